"""``download_to_store`` against a loopback server: allowed URLs, redirects, size cap, truncation."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from media_pipeline.resources.http import (
    DownloadError,
    RetryableDownloadError,
    check_url,
    download_to_store,
    is_loopback_host,
)
from media_pipeline.resources.store import LocalMediaStore

BODY = b"x" * 5000


class Handler(BaseHTTPRequestHandler):
    """``/ok`` the body; ``/short`` promises more than it sends; ``/to-https``, ``/to-ok`` redirect."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path == "/to-https":
            self.send_response(302)
            self.send_header("Location", "https://127.0.0.1:1/ok")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/to-ok":
            self.send_response(302)
            self.send_header("Location", "/ok?sig=secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/gzip-if-asked":  # like a CDN: compresses when the client accepts it
            gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
            body = gzip.compress(BODY) if gzipped else BODY
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.split("?")[0] not in ("/ok", "/short"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        if self.path == "/short":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(BODY[:1000])
            self.close_connection = True
            return
        self.end_headers()
        self.wfile.write(BODY)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def store(tmp_path: Path) -> LocalMediaStore:
    return LocalMediaStore(root=str(tmp_path))


def test_url_rules() -> None:
    assert check_url("https://vidgen.x.ai/a.mp4")
    assert check_url("http://127.0.0.5:8080/a.mp4") and check_url("http://[::1]/a") and check_url("http://localhost/a")
    for bad in ("http://example.com/a.mp4", "ftp://127.0.0.1/a", "file:///etc/passwd", "https:///nohost"):
        with pytest.raises(DownloadError, match="only https"):
            check_url(bad)
    assert not is_loopback_host("10.0.0.1") and not is_loopback_host(None)


def test_download_and_redirect_within_scheme(server: str, store: LocalMediaStore) -> None:
    assert download_to_store(f"{server}/to-ok", store, "clips/a.mp4", max_bytes=1 << 20) == len(BODY)
    assert store.get_bytes("clips/a.mp4") == BODY


def test_redirect_to_another_scheme_is_refused(server: str, store: LocalMediaStore) -> None:
    with pytest.raises(DownloadError, match="another scheme"):
        download_to_store(f"{server}/to-https", store, "clips/a.mp4", max_bytes=1 << 20)


def test_truncated_body_is_detected_and_nothing_stored(server: str, store: LocalMediaStore) -> None:
    with pytest.raises(RetryableDownloadError, match="truncated"):
        download_to_store(f"{server}/short", store, "clips/a.mp4", max_bytes=1 << 20)
    assert not store.exists("clips/a.mp4") and store.list_keys("clips/") == []


def test_size_cap_and_4xx(server: str, store: LocalMediaStore) -> None:
    with pytest.raises(DownloadError, match="over the 100-byte limit") as err:
        download_to_store(f"{server}/ok", store, "clips/a.mp4", max_bytes=100)
    assert not isinstance(err.value, RetryableDownloadError)
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download_to_store(f"{server}/gone?sig=secret", store, "clips/a.mp4", max_bytes=1 << 20)
    assert "secret" not in str(err.value)  # signed URLs carry credentials in the query: never in messages
    assert not store.exists("clips/a.mp4")


def test_described_urls_carry_no_credentials() -> None:
    from media_pipeline.resources.http import describe_url

    url = "https://user:hunter2@cdn.example.com:8443/v/clip.mp4?X-Amz-Credential=AKIA123&X-Amz-Signature=ab"
    assert describe_url(url) == "https://cdn.example.com:8443/v/clip.mp4"
    assert describe_url("http://[::1]:9000/a.mp4?sig=1") == "http://[::1]:9000/a.mp4"


def test_a_host_that_would_compress_sends_the_bytes_as_stored(server: str, store: LocalMediaStore) -> None:
    assert download_to_store(f"{server}/gzip-if-asked", store, "clips/a.mp4", max_bytes=1 << 20) == len(BODY)
    assert store.get_bytes("clips/a.mp4") == BODY
