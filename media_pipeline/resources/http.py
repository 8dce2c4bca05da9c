"""Streamed, checked downloads of a result URL straight into the store.

The video API hands back a URL valid for 24 hours; the clip is copied into the store at once so nothing later
depends on that URL. The rules here are the ones a fetch of an outside URL needs: https only (plain http only
for loopback, i.e. an emulator), no redirect to another scheme, a size cap, and a truncated body (fewer bytes
than ``Content-Length`` promised) detected rather than stored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import urljoin, urlsplit

import requests

from .store import MediaStore

CHUNK_BYTES = 1 << 20
MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


class DownloadError(RuntimeError):
    """A download that must not be retried: a refused URL, a 4xx, a body over the size cap."""


class RetryableDownloadError(DownloadError):
    """A download worth trying again: a 5xx, a dropped connection, a truncated body."""


class GoneDownloadError(DownloadError):
    """The URL answers 404 or 410: what it held is gone for good, so only a new request can bring it back."""


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ``::1``."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """Return ``url`` if it may be fetched: https anywhere, http only on loopback; else ``DownloadError``."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise DownloadError(f"refusing to fetch {describe_url(url)}: only https (or http on loopback) is allowed")


def describe_url(url: str) -> str:
    """The URL without credentials or query string, for messages: signed URLs carry credentials in the query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _open(url: str) -> requests.Response:
    """GET ``url`` following redirects by hand, so every hop is checked and none changes the scheme."""
    scheme = urlsplit(check_url(url)).scheme
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = requests.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
                # the bytes as stored: Content-Length then counts what we receive, so truncation shows
                headers={"Accept-Encoding": "identity"},
            )
        except requests.RequestException as exc:
            raise RetryableDownloadError(f"{describe_url(url)}: {type(exc).__name__}") from None
        if not response.is_redirect:
            return response
        location = urljoin(url, response.headers.get("Location", ""))
        response.close()
        if urlsplit(location).scheme != scheme:
            raise DownloadError(f"{describe_url(url)} redirects to another scheme ({describe_url(location)})")
        url = check_url(location)
    raise DownloadError(f"{describe_url(url)}: more than {MAX_REDIRECTS} redirects")


def _body(response: requests.Response, url: str, expected: int | None) -> Iterator[bytes]:
    """The response body in chunks; raises ``RetryableDownloadError`` if it stops short of ``expected``."""
    received = 0
    try:
        for chunk in response.iter_content(CHUNK_BYTES):
            received += len(chunk)
            yield chunk
    except requests.RequestException as exc:
        of = f" of {expected}" if expected is not None else ""
        raise RetryableDownloadError(
            f"{describe_url(url)}: truncated, connection broken after {received}{of} bytes ({type(exc).__name__})"
        ) from None
    finally:
        response.close()
    if expected is not None and received != expected:
        raise RetryableDownloadError(
            f"{describe_url(url)}: truncated, got {received} of {expected} bytes (Content-Length)"
        )


def download_to_store(
    url: str, store: MediaStore, key: str, *, max_bytes: int, content_types: tuple[str, ...] = ()
) -> int:
    """Stream ``url`` into ``store`` at ``key`` (visible only when complete) and return its size; with
    ``content_types``, a response of another ``Content-Type`` is refused before its body is read.

    Raises ``RetryableDownloadError`` for a 5xx, a dropped connection or a truncated body,
    ``GoneDownloadError`` for 404 / 410, and ``DownloadError`` for anything else a retry cannot fix.
    """
    response = _open(url)
    if response.status_code >= 500:
        response.close()
        raise RetryableDownloadError(f"{describe_url(url)}: HTTP {response.status_code}")
    if response.status_code != 200:
        response.close()
        error = GoneDownloadError if response.status_code in (404, 410) else DownloadError
        raise error(f"{describe_url(url)}: HTTP {response.status_code}")
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_types and kind not in content_types:
        response.close()
        raise DownloadError(f"{describe_url(url)}: content type {kind or 'none'!r}, not {' or '.join(content_types)}")
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    if expected is not None and expected > max_bytes:
        response.close()
        raise DownloadError(f"{describe_url(url)}: {expected} bytes is over the {max_bytes}-byte limit")
    failure: list[DownloadError] = []

    def chunks() -> Iterator[bytes]:
        try:
            yield from _body(response, url, expected)
        except DownloadError as exc:
            failure.append(exc)  # the store may wrap what the iterator raises; keep ours to re-raise
            raise

    try:
        return store.put_stream(key, chunks(), max_bytes=max_bytes)
    except Exception as exc:
        if failure:
            raise failure[0] from None
        raise DownloadError(f"{describe_url(url)}: could not store at {key}: {exc}") from None
