"""S3MediaStore against a real S3 server (SeaweedFS with auth on): writes, skips, multipart, URLs, errors."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dagster import asset, materialize
from dagster_aws.s3 import S3Resource

from media_pipeline.resources.s3.store import S3MediaStore, url_expiry
from media_pipeline.resources.store import MediaStore, StoreError
from media_pipeline_tests.s3_fixtures import SeaweedS3, free_ports

MIB = 1024 * 1024


def count_calls(store: S3MediaStore) -> Counter[str]:
    """A live count of the S3 operations ``store`` sends, by operation name."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    store.client.meta.events.register("before-call.s3", hook)
    return calls


@pytest.fixture
def store(s3_env: SeaweedS3) -> S3MediaStore:
    bucket = s3_env.make_bucket()
    return S3MediaStore.from_environment(
        bucket=bucket, prefix="media", multipart_threshold_bytes=5 * MIB, multipart_part_bytes=5 * MIB
    )


def http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test server
        return response.read()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test server
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_roundtrip_list_and_delete(store: S3MediaStore, s3_env: SeaweedS3, tmp_path: Path) -> None:
    store.put_bytes("sources/b.png", b"bee")
    store.put_bytes("sources/a.png", b"ay")
    store.put_bytes("clips/c.mp4", b"sea")
    assert store.exists("sources/a.png") and not store.exists("sources/zz.png")
    assert store.get_bytes("sources/a.png") == b"ay"
    assert store.list_keys("sources/") == ["sources/a.png", "sources/b.png"]
    assert store.list_keys("sources") == ["sources/a.png", "sources/b.png"]
    assert store.list_keys("") == ["clips/c.mp4", "sources/a.png", "sources/b.png"]
    assert store.list_keys("nothing/") == []
    assert store.get_file("clips/c.mp4", tmp_path / "c.mp4").read_bytes() == b"sea"
    with store.local_file("sources/b.png") as path:
        assert path.read_bytes() == b"bee"
    head = s3_env.client().head_object(Bucket=store.bucket, Key="media/sources/a.png")
    assert head["ContentType"] == "image/png"
    assert store.uri("sources/a.png") == f"s3://{store.bucket}/media/sources/a.png"
    store.delete("sources/a.png")
    store.delete("sources/a.png")  # deleting a missing key is not an error
    assert not store.exists("sources/a.png")
    with pytest.raises(KeyError, match="sources/a.png"):
        store.get_bytes("sources/a.png")
    with pytest.raises(KeyError, match="sources/a.png"):
        store.get_file("sources/a.png", tmp_path / "x")
    with pytest.raises(ValueError):
        store.exists("../escape")


def test_put_file_skips_an_existing_object(store: S3MediaStore, s3_env: SeaweedS3, tmp_path: Path) -> None:
    src = tmp_path / "img.png"
    src.write_bytes(b"png" * 1000)
    calls = count_calls(store)
    assert store.put_file("sources/abc.png", src, skip_if_exists=True) is True
    before = s3_env.client().head_object(Bucket=store.bucket, Key="media/sources/abc.png")
    time.sleep(1.1)  # LastModified has one-second resolution
    assert store.put_file("sources/abc.png", src, skip_if_exists=True) is False
    after = s3_env.client().head_object(Bucket=store.bucket, Key="media/sources/abc.png")
    assert calls["PutObject"] == 1 and calls["HeadObject"] == 2
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    assert store.put_file("sources/abc.png", src) is True  # without the flag it writes
    assert calls["PutObject"] == 2


def test_large_file_goes_multipart_and_comes_back_whole(store: S3MediaStore, tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(12 * MIB))
    calls = count_calls(store)
    assert store.put_file("clips/big.mp4", big)
    assert calls["CreateMultipartUpload"] == 1 and calls["UploadPart"] == 3
    assert calls["CompleteMultipartUpload"] == 1 and calls["PutObject"] == 0
    back = store.get_file("clips/big.mp4", tmp_path / "back.mp4")
    assert back.read_bytes() == big.read_bytes()


def test_put_stream_small_and_multipart(store: S3MediaStore) -> None:
    calls = count_calls(store)
    assert store.put_stream("jobs/c/s.json", [b"{", b"}"], max_bytes=10) == 2
    assert calls["PutObject"] == 1 and calls["CreateMultipartUpload"] == 0
    chunks = [os.urandom(MIB) for _ in range(11)] + [b"tail"]
    size = store.put_stream("clips/streamed.mp4", iter(chunks), max_bytes=20 * MIB)
    assert size == 11 * MIB + 4
    assert calls["CreateMultipartUpload"] == 1 and calls["UploadPart"] == 3
    assert store.get_bytes("clips/streamed.mp4") == b"".join(chunks)


def _failing_chunks() -> Iterator[bytes]:
    for _ in range(7):
        yield os.urandom(MIB)
    raise ConnectionResetError("download cut")


def test_put_stream_failure_stores_nothing_and_aborts(store: S3MediaStore, s3_env: SeaweedS3) -> None:
    calls = count_calls(store)
    with pytest.raises(StoreError, match="clips/cut.mp4.*download cut"):
        store.put_stream("clips/cut.mp4", _failing_chunks(), max_bytes=100 * MIB)
    assert calls["UploadPart"] == 1 and calls["AbortMultipartUpload"] == 1  # a part went up, then was aborted
    assert not store.exists("clips/cut.mp4")
    uploads = s3_env.client().list_multipart_uploads(Bucket=store.bucket)
    assert not uploads.get("Uploads")

    store.put_bytes("clips/kept.mp4", b"old")
    with pytest.raises(StoreError, match="limit"):
        store.put_stream("clips/kept.mp4", [b"x" * 6 * MIB, b"y" * 6 * MIB], max_bytes=10 * MIB)
    assert store.get_bytes("clips/kept.mp4") == b"old"  # a failed replace keeps the old object
    assert store.list_keys("clips/") == ["clips/kept.mp4"]


def test_presigned_url_serves_the_bytes_over_plain_http(store: S3MediaStore) -> None:
    store.put_bytes("sources/img.png", b"\x89PNG-bytes")
    url, expires = store.presign("sources/img.png", 60)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert http_get(url) == b"\x89PNG-bytes"
    # the store's minimum (2 h by default) wins over a shorter request
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(seconds=30)
    assert url_expiry(url) == expires
    longer = url_expiry(store.fetch_url("sources/img.png", 5 * 3600))
    assert longer is not None and longer - datetime.now(UTC) > timedelta(hours=4, minutes=59)
    assert store.url_ttl_seconds == 7200
    with pytest.raises(KeyError, match="sources/none.png"):
        store.fetch_url("sources/none.png", 60)
    with pytest.raises(StoreError, match="7 days"):
        store.fetch_url("sources/img.png", 8 * 24 * 3600)


def test_expired_and_tampered_urls_are_refused(s3_env: SeaweedS3) -> None:
    store = S3MediaStore.from_environment(bucket=s3_env.make_bucket(), presign_ttl_seconds=1)
    store.put_bytes("sources/a.png", b"a")
    store.put_bytes("sources/b.png", b"b")
    url = store.fetch_url("sources/a.png", 1)
    signature = url.rsplit("=", 1)[1]
    forged = url[: -len(signature)] + ("0" if signature[0] != "0" else "1") + signature[1:]
    assert http_status(forged) == 403
    assert http_status(url.replace("sources/a.png", "sources/b.png")) == 403  # a signature is for one key
    assert http_status(url) == 200
    time.sleep(2.1)
    assert http_status(url) == 403


def test_url_expiry_reads_sigv4_sigv2_and_data_urls() -> None:
    sigv4 = "https://b.s3.amazonaws.com/k?X-Amz-Date=20250102T030405Z&X-Amz-Expires=3600&X-Amz-Signature=ab"
    assert url_expiry(sigv4) == datetime(2025, 1, 2, 4, 4, 5, tzinfo=UTC)
    sigv2 = "https://b.s3.amazonaws.com/k?Expires=1700000000&Signature=x"
    assert url_expiry(sigv2) == datetime.fromtimestamp(1700000000, tz=UTC)
    assert url_expiry("data:image/png;base64,AAAA") is None


def test_endpoint_down_is_a_clear_store_error(s3_env: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")
    store = S3MediaStore(s3=S3Resource(max_attempts=1), bucket="media", prefix="p")
    with pytest.raises(StoreError) as info:
        store.put_bytes("sources/a.png", b"a")
    message = str(info.value)
    assert "s3://media/p/sources/a.png" in message and "cannot reach the S3 endpoint" in message
    assert s3_env.secret_key not in message
    with pytest.raises(StoreError, match="cannot reach"):
        store.exists("sources/a.png")


def test_missing_bucket_denied_and_bad_secret_are_clear_store_errors(
    s3_env: SeaweedS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = S3MediaStore.from_environment(bucket="no-such-bucket-here")
    with pytest.raises(StoreError, match=r"s3://no-such-bucket-here/k\.png.*bucket does not exist"):
        missing.put_bytes("k.png", b"x")
    with pytest.raises(StoreError, match="bucket does not exist"):
        missing.list_keys("")

    bucket = s3_env.make_bucket()
    for name, value in s3_env.env(readonly=True).items():
        monkeypatch.setenv(name, value)
    reader = S3MediaStore.from_environment(bucket=bucket)
    src = tmp_path / "f.png"
    src.write_bytes(b"f")
    for write in (lambda: reader.put_bytes("k.png", b"x"), lambda: reader.put_file("k.png", src)):
        with pytest.raises(StoreError, match=r"s3://.*/k\.png.*access denied") as info:
            write()
        assert s3_env.readonly_secret_key not in str(info.value)
    assert reader.list_keys("") == []  # reading is allowed

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = S3MediaStore.from_environment(bucket=bucket)
    for call in (lambda: wrong.list_keys(""), lambda: wrong.exists("k.png")):
        with pytest.raises(StoreError, match="AWS_SECRET_ACCESS_KEY") as info:
            call()
        assert "not-the-secret" not in str(info.value)


def test_works_as_a_dagster_resource(store: S3MediaStore) -> None:
    @asset
    def hosted(store: MediaStore) -> str:
        store.put_bytes("sources/from-asset.png", b"x")
        return store.fetch_url("sources/from-asset.png", 60)

    result = materialize([hosted], resources={"store": store})
    assert result.success
    assert http_get(result.output_for_node("hosted")) == b"x"
