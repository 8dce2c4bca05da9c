"""S3DropZone against a real S3 server: campaigns and files, rewrites and deletes, incremental listing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource

from media_pipeline.resources.drops import DropFile
from media_pipeline.resources.s3.drops import S3DropZone
from media_pipeline.resources.store import StoreError
from media_pipeline_tests.s3_fixtures import SeaweedS3, free_ports

MANIFEST = "shots: []\n"


class Bucket:
    """Writes and deletes objects under the drop zone's prefix with an admin client."""

    def __init__(self, server: SeaweedS3, name: str, prefix: str) -> None:
        self.client, self.name, self.prefix = server.client(), name, prefix

    def put(self, key: str, body: bytes = b"img") -> None:
        self.client.put_object(Bucket=self.name, Key=f"{self.prefix}/{key}", Body=body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=f"{self.prefix}/{key}")


@pytest.fixture
def bucket(s3_env: SeaweedS3) -> Bucket:
    return Bucket(s3_env, s3_env.make_bucket(), "drops")


@pytest.fixture
def zone(bucket: Bucket) -> S3DropZone:
    return S3DropZone.from_uri(f"s3://{bucket.name}/drops/")


def names(files: list[DropFile]) -> list[str]:
    return [f.name for f in files]


def test_campaigns_files_and_reads(bucket: Bucket, zone: S3DropZone, tmp_path: Path) -> None:
    bucket.put("spring/campaign.yaml", MANIFEST.encode())
    bucket.put("spring/2.png", b"two")
    bucket.put("spring/1.jpg", b"one!")
    bucket.put("spring/.DS_Store")
    bucket.put("spring/raw/ignored.png")
    bucket.put("Bad Name/x.png")
    bucket.put("empty/")  # a console-made folder marker
    bucket.put(".hidden/x.png")
    bucket.put("loose.png")  # not in a campaign folder
    listing = zone.list_campaigns()
    assert list(listing) == ["Bad Name", "empty", "spring"]  # invalid ids are listed; the sensor reports them
    assert names(listing["spring"]) == ["1.jpg", "2.png", "campaign.yaml"]
    assert listing["empty"] == []
    one = listing["spring"][0]
    assert one.size == 4 and one.etag and abs(one.mtime - time.time()) < 120
    assert zone.list_files("spring") == listing["spring"]
    assert zone.list_files("nowhere") == []
    assert zone.read_manifest("spring") == MANIFEST
    assert zone.read_text("spring", "missing.yaml") is None
    assert zone.fetch("spring", "2.png", tmp_path / "2.png").read_bytes() == b"two"
    with pytest.raises(FileNotFoundError, match="spring/none.png"):
        zone.fetch("spring", "none.png", tmp_path / "none.png")
    assert zone.location("spring", "2.png") == f"s3://{bucket.name}/drops/spring/2.png"


def test_rewrite_changes_etag_and_mtime_and_delete_removes(bucket: Bucket, zone: S3DropZone) -> None:
    bucket.put("c1/a.png", b"first")
    bucket.put("c1/b.png", b"other")
    before = zone.list_files("c1")[0]
    time.sleep(1.1)  # LastModified has one-second resolution
    bucket.put("c1/a.png", b"second")
    after = zone.list_files("c1")[0]
    assert after.name == "a.png" and after.etag != before.etag and after.mtime > before.mtime
    bucket.delete("c1/a.png")
    assert names(zone.list_files("c1")) == ["b.png"]
    bucket.delete("c1/b.png")
    assert zone.list_campaigns() == {}


@pytest.mark.parametrize("fast", [True, False], ids=["elementtree", "botocore"])
def test_listing_is_paginated_one_request_per_page(bucket: Bucket, fast: bool) -> None:
    for i in range(35):
        bucket.put(f"c{i % 4}/{i:03}.png")
    bucket.put("c0/odd name+%&<>.png", b"x")  # keys needing URL- and XML-escaping
    zone = S3DropZone.from_environment(bucket=bucket.name, prefix="drops", page_size=10, fast_listing=fast)
    listing = zone.list_campaigns()
    assert sum(len(files) for files in listing.values()) == 36 and zone.list_requests == 4
    assert "odd name+%&<>.png" in names(listing["c0"])
    assert sorted(listing) == ["c0", "c1", "c2", "c3"]
    other = S3DropZone.from_environment(bucket=bucket.name, prefix="drops", fast_listing=not fast)
    assert other.list_campaigns() == zone.list_campaigns()  # both parsers agree, timestamps included


@pytest.mark.parametrize("fast", [True, False], ids=["elementtree", "botocore"])
def test_listing_errors_are_store_errors(s3_env: SeaweedS3, monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    zone = S3DropZone.from_uri("s3://no-such-drops-bucket/drops", fast_listing=fast)
    with pytest.raises(StoreError, match="s3://no-such-drops-bucket/drops/.*bucket does not exist"):
        zone.list_campaigns()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(StoreError, match="AWS_SECRET_ACCESS_KEY") as info:
        S3DropZone.from_uri(f"s3://{s3_env.make_bucket()}/drops", fast_listing=fast).list_campaigns()
    assert "wrong-secret" not in str(info.value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_ports(1)[0]}")
    down = S3DropZone(s3=S3Resource(max_attempts=1), bucket="drops", fast_listing=fast)
    with pytest.raises(StoreError, match="s3://drops/: LIST failed: cannot reach the S3 endpoint") as info:
        down.list_campaigns()
    chain, error = [], info.value
    while error is not None:  # the signed listing URL carries the key id and a signature: never in a message
        chain.append(str(error))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)  # as printed
    assert not any("X-Amz-" in text or s3_env.access_key in text for text in chain), chain
