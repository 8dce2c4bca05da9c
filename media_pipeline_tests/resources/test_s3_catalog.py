"""A catalog drop in the S3 drop zone (SeaweedFS): its rows listed as campaigns, read and fetched like folders, and
an edited row changing only its own fingerprint."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from media_pipeline.campaign import MANIFEST_NAME, load_campaign
from media_pipeline.resources.drops import drop_fingerprint
from media_pipeline.resources.s3.drops import S3DropZone
from media_pipeline_tests.builders import sample_image
from media_pipeline_tests.s3_fixtures import SeaweedS3

TEMPLATE = b'duration: 1\nshots:\n  - image: "{image}"\n    prompt: "the {title}"\n'


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    sample_image(seed, (160, 90)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def s3_catalog(s3_env: SeaweedS3):
    bucket, client = s3_env.make_bucket(), s3_env.client()

    def put(key: str, body: bytes) -> None:
        client.put_object(Bucket=bucket, Key=f"drops/{key}", Body=body)

    put("shoes/campaign.yaml", TEMPLATE)
    put("shoes/a.png", _png(1))
    put("shoes/b.png", _png(2))
    put("shoes/catalog.csv", b"sku,title,image\nA1,Runner,a.png\nB2,Boot,b.png\nC3,Clog,c.png\n")
    put("spring/shot.png", _png(3))  # a campaign folder beside the catalog drop
    return S3DropZone.from_uri(f"s3://{bucket}/drops/"), put


def test_the_s3_drop_zone_lists_a_catalog_drop_as_one_campaign_per_row(s3_catalog, tmp_path: Path):
    zone, put = s3_catalog
    listing = zone.list_drops()
    assert sorted(listing.campaigns) == ["shoes-a1", "shoes-b2", "shoes-c3", "spring"]
    assert listing.catalogs == {"shoes": ["shoes-a1", "shoes-b2", "shoes-c3"]}
    assert [f.name for f in listing.campaigns["shoes-a1"]] == [MANIFEST_NAME, "image.png"]

    files = zone.list_files("shoes-b2")
    assert files == listing.campaigns["shoes-b2"]
    campaign = load_campaign("shoes-b2", [f.name for f in files], zone.read_manifest("shoes-b2"))
    assert campaign.shots[0].prompt == "the Boot" and campaign.shots[0].image == "image.png"
    copy = zone.fetch("shoes-b2", "image.png", tmp_path / "b.png")
    assert copy.read_bytes() == _png(2)
    assert zone.location("shoes-b2", "image.png").endswith("/drops/shoes/catalog.csv, row 3, column 'image' (b.png)")
    with pytest.raises(ValueError, match="row 4, column 'image': 'c.png' was not dropped beside the catalog"):
        zone.read_manifest("shoes-c3")

    before = {c: drop_fingerprint(f) for c, f in listing.campaigns.items()}
    put("shoes/catalog.csv", b"sku,title,image\nA1,Runner,a.png\nB2,Tall Boot,b.png\nC3,Clog,c.png\n")
    after = {c: drop_fingerprint(f) for c, f in zone.list_drops().campaigns.items()}
    assert [c for c in before if before[c] != after[c]] == ["shoes-b2"]
