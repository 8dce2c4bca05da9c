"""What the drop zones will read: nothing through a symlink that leaves the drop zone, and a bounded manifest.

A folder drop zone on disk (symlinks made for real) and an S3 one on SeaweedFS: a manifest over the cap is
refused after reading one byte past it, not the whole object.
"""

from pathlib import Path

import pytest

from media_pipeline.campaign import CampaignError
from media_pipeline.manifest_yaml import MAX_MANIFEST_BYTES
from media_pipeline.resources.drops import DropRefused, LocalDropZone
from media_pipeline.resources.s3.drops import S3DropZone
from media_pipeline.sensors import evaluate_drops

from .builders import write_campaign


def test_a_symlink_leaving_the_drop_zone_is_listed_but_never_read(tmp_path, drops_root):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"outside")
    folder = write_campaign(drops_root, "spring", shots=1)
    (folder / "leak.png").symlink_to(secret)
    (folder / "campaign.yaml").symlink_to(secret)
    zone = LocalDropZone(root=str(drops_root))
    assert {f.name for f in zone.list_files("spring")} == {"shot_1.png", "leak.png", "campaign.yaml"}
    with pytest.raises(DropRefused, match="campaign 'spring', file leak.png: a symlink leading out of the drop zone"):
        zone.fetch("spring", "leak.png", tmp_path / "copy.png")
    with pytest.raises(CampaignError, match="file campaign.yaml: a symlink leading out"):
        zone.read_manifest("spring")
    assert not (tmp_path / "copy.png").exists()
    assert zone.location("spring", "leak.png") == str(folder / "leak.png")  # named as dropped, not as resolved


def test_a_symlink_inside_the_drop_zone_is_read(tmp_path, drops_root):
    write_campaign(drops_root, "shared", shots=1)
    folder = write_campaign(drops_root, "spring", shots=0)
    (folder / "hero.png").symlink_to(drops_root / "shared" / "shot_1.png")
    zone = LocalDropZone(root=str(drops_root))
    copy = zone.fetch("spring", "hero.png", tmp_path / "hero.png")
    assert copy.read_bytes() == (drops_root / "shared" / "shot_1.png").read_bytes()


def test_a_campaign_folder_with_a_trailing_newline_is_not_a_campaign(drops_root):
    write_campaign(drops_root, "spring\n", shots=1)
    write_campaign(drops_root, "good", shots=1)
    decision = evaluate_drops(LocalDropZone(root=str(drops_root)).list_campaigns(), {}, set(), 1e12, 0.0)
    assert decision.invalid == ["spring\n"] and list(decision.runs) == ["good"]


def test_an_oversized_manifest_on_s3_is_refused_after_a_bounded_read(s3_env, tmp_path: Path):
    bucket = s3_env.make_bucket()
    client = s3_env.client()
    client.put_object(Bucket=bucket, Key="drops/big/campaign.yaml", Body=b"# pad\n" * (MAX_MANIFEST_BYTES // 3))
    client.put_object(Bucket=bucket, Key="drops/ok/campaign.yaml", Body="style: caf\u00e9\n".encode())
    zone = S3DropZone.from_uri(f"s3://{bucket}/drops")
    assert len(zone.read_bytes("big", "campaign.yaml", 100)) == 100
    with pytest.raises(CampaignError, match="campaign 'big', file campaign.yaml: larger than 256 KiB"):
        zone.read_manifest("big")
    assert zone.read_manifest("ok") == "style: caf\u00e9\n"
    assert zone.read_bytes("ok", "missing.yaml", 10) is None


def test_a_campaign_folder_that_is_a_symlink_out_of_the_drop_zone_is_never_read(tmp_path, drops_root):
    elsewhere = write_campaign(tmp_path / "elsewhere", "private", shots=1, manifest="duration: 2\n")
    (drops_root / "borrowed").symlink_to(elsewhere)
    zone = LocalDropZone(root=str(drops_root))
    assert {f.name for f in zone.list_files("borrowed")} == {"shot_1.png", "campaign.yaml"}
    with pytest.raises(DropRefused, match="campaign 'borrowed', file shot_1.png: a symlink leading out"):
        zone.fetch("borrowed", "shot_1.png", tmp_path / "copy.png")
    with pytest.raises(CampaignError, match="symlink leading out"):
        zone.read_manifest("borrowed")
