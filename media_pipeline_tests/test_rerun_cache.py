"""A re-run of an unchanged campaign re-encodes nothing: the deliverable set is taken as it is, byte for byte,
without one ffmpeg run; a changed deliverable spec makes the set again."""

import hashlib
import stat
from pathlib import Path

from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.ffmpeg import ffmpeg_runs

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition


def _run(instance, resources) -> dict:
    result = materialize(campaign_assets, resources=resources, partition_key="spring", instance=instance)
    assert result.success
    event = instance.get_latest_materialization_event(AssetKey("deliverable"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``folder``: its SHA-256 and modification time."""
    return {
        str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_an_unchanged_campaign_reruns_without_one_encode_and_a_changed_spec_encodes_again(
    instance, local_resources, drops_root
):
    folder = write_campaign(drops_root, "spring", shots=2, manifest=SMALL_MANIFEST)
    add_campaign_partition(instance, "spring")
    deliverables = Path(local_resources["store"].root) / "deliverables/spring"

    first = _run(instance, local_resources)
    assert first["reused"] is False and first["ffmpeg_runs"] > 0
    assert first["cache_hits"] == 0 and first["video_seconds"] > 0
    for thumbnail in (first["poster_thumbnail"], first["contact_sheet_thumbnail"]):  # short enough to show in place
        assert thumbnail.startswith("![") and "](data:image/webp;base64," in thumbnail and len(thumbnail) < 1000
    published = _files(deliverables)
    assert any(name.endswith(".mp4") for name in published)
    assert {stat.S_IMODE((deliverables / n).stat().st_mode) & 0o044 for n in published} == {0o044}  # readable

    before = ffmpeg_runs()
    second = _run(instance, local_resources)
    assert ffmpeg_runs() == before  # not one ffmpeg process in the whole re-run
    assert second["reused"] is True and second["ffmpeg_runs"] == 0
    assert second["version"] == first["version"] and second["cache_hits"] == 2
    assert _files(deliverables) == published  # the same bytes, untouched

    (folder / "campaign.yaml").write_text(SMALL_MANIFEST.replace("transition: crossfade", "transition: cut"))
    third = _run(instance, local_resources)
    assert third["reused"] is False and third["ffmpeg_runs"] > 0 and third["version"] != first["version"]
