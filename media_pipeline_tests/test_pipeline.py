"""The campaign chain end to end on a real Dagster instance with real ffmpeg and the local generator."""

import contextlib
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.probe import probe
from media_pipeline.records import GeneratedClips
from media_pipeline.resources.generator import LocalVideoGenerator
from media_pipeline.resources.io_manager import StoreRecordIOManager, read_record
from media_pipeline.resources.store import LocalMediaStore

from .builders import SMALL_MANIFEST, sample_image, write_campaign
from .conftest import add_campaign_partition


def _materialize(instance, resources, campaign, raise_on_error=True):
    return materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, raise_on_error=raise_on_error
    )


def _metadata(instance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _checks(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.fixture
def spring(instance, drops_root):
    write_campaign(drops_root, "spring", shots=3, manifest=SMALL_MANIFEST)
    add_campaign_partition(instance, "spring")
    return "spring"


def test_three_shot_campaign_is_delivered_then_a_rerun_generates_nothing(instance, local_resources, spring):
    result = _materialize(instance, local_resources, spring)
    assert result.success
    assert _checks(result) == {
        "images_valid": True,
        "first_frames_faithful": True,
        "deliverable_conformant": True,
        "deliverable_complete": True,
        "deliverable_approved": True,  # no review: published as always
    }
    clips = _metadata(instance, "generated_clips")
    assert clips["clips.generated"] == 3 and clips["local.cache_hits"] == 0

    store_root = Path(local_resources["store"].root)
    master = store_root / "deliverables/spring/spring.mp4"
    info = probe(master)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 854, 480)
    assert info.fps == pytest.approx(24)
    assert info.audio_codec == "aac" and info.audio_rate == 48000
    assert info.video_duration == pytest.approx(3 * 1 - 2 * 0.25, abs=1 / 24 + 1e-3)
    assert (store_root / "deliverables/spring/spring_poster.jpg").stat().st_size > 0
    delivered = _metadata(instance, "deliverable")
    assert delivered["duration_s"] == pytest.approx(2.5, abs=0.05)
    assert Path(delivered["path"]) == master.resolve()

    clip_files = sorted((store_root / "clips").iterdir())
    stamps = [p.stat().st_mtime_ns for p in clip_files]
    assert _materialize(instance, local_resources, spring).success
    again = _metadata(instance, "generated_clips")
    assert again["clips.generated"] == 0 and again["local.cache_hits"] == 3
    assert [p.stat().st_mtime_ns for p in sorted((store_root / "clips").iterdir())] == stamps


def test_corrupt_image_fails_only_its_shot_and_the_rerun_redoes_only_that_shot(
    instance, local_resources, spring, drops_root
):
    broken = drops_root / "spring" / "shot_2.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nthis is not an image")
    result = _materialize(instance, local_resources, spring, raise_on_error=False)
    assert not result.success
    assert _checks(result)["images_valid"] is False
    clips = _metadata(instance, "generated_clips")
    assert clips["clips.generated"] == 2 and clips["clips.failed"] == 1
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == "deliverable"
    message = failure.event_specific_data.error.message
    assert "campaign 'spring'" in message and "shot_2" in message and "shot_2.png" in message
    assert "2 clip(s) already made are kept" in message

    sample_image(42).save(broken)
    assert _materialize(instance, local_resources, spring).success
    fixed = _metadata(instance, "generated_clips")
    assert fixed["clips.generated"] == 1 and fixed["local.cache_hits"] == 2


def test_invalid_manifest_fails_with_the_key_named(instance, local_resources, drops_root):
    write_campaign(drops_root, "typo", shots=1, manifest="resolutoin: 720p\n")
    add_campaign_partition(instance, "typo")
    result = _materialize(instance, local_resources, "typo", raise_on_error=False)
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "campaign 'typo'" in message and "unknown key 'resolutoin'" in message


class _LosesShot2(LocalVideoGenerator):
    """The real local generator, except that shot_2 meets an unexpected error (as a store outage would raise)."""

    def generate(self, request, store, log):
        if request.shot == "shot_2":
            raise ConnectionResetError("connection to the store reset")
        return super().generate(request, store, log)


def test_an_unexpected_error_in_one_shot_is_recorded_and_the_other_shots_go_on(instance, local_resources, spring):
    resources = dict(local_resources, generator=_LosesShot2(max_concurrent=2))
    result = _materialize(instance, resources, spring, raise_on_error=False)
    clips = _metadata(instance, "generated_clips")
    assert clips["clips.generated"] == 2 and clips["clips.failed"] == 1
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "shot 'shot_2'" in message and "ConnectionResetError: connection to the store reset" in message


OPENED_CLIPS: list[str] = []


class _CountingStore(LocalMediaStore):
    """The real local store, noting every clip it hands out as a local file."""

    @contextlib.contextmanager
    def local_file(self, key):
        if key.startswith("clips/"):
            OPENED_CLIPS.append(key)
        with super().local_file(key) as path:
            yield path


def test_a_rerun_keeps_cached_clips_scores_instead_of_fetching_them_again(instance, tmp_path, local_resources, spring):
    store = _CountingStore(root=str(tmp_path / "counted"))
    resources = dict(local_resources, store=store, records_io_manager=StoreRecordIOManager(store=store))

    def scores() -> dict[str, float]:
        record = read_record(store, "generated_clips", spring, GeneratedClips)
        return {c.shot: c.fidelity for c in record.clips}

    assert _materialize(instance, resources, spring).success
    first = scores()
    OPENED_CLIPS.clear()
    assert _materialize(instance, resources, spring).success
    assert len(OPENED_CLIPS) == 3  # the deliverable's reads only; no clip fetched again to be re-scored
    assert scores() == first and all(score > 0.9 for score in first.values())
