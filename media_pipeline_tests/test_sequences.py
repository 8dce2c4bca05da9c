"""Stitchable sequences through the whole chain: chained shots start on the previous clip's exact last frame, a
pinned end image ends its clip, renditions, a soundtrack at -16 LUFS, poster and contact sheet, all published.
"""

import subprocess
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.audio import measure_loudness
from media_pipeline.media.ffmpeg import ffmpeg_exe
from media_pipeline.media.frames import read_frame
from media_pipeline.media.probe import probe
from media_pipeline.media.quality import image_array, ssim
from media_pipeline.records import Deliverable, GeneratedClips

from .builders import write_campaign
from .conftest import add_campaign_partition
from .xai_builders import xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

SEQUENCE = """\
resolution: 480p
duration: 1
shots:
  - {image: shot_1.png, prompt: push in}
  - {image: shot_1.png, id: continued, prompt: pan right, chain: true}
  - {image: shot_2.png, prompt: tilt up, end_image: shot_3.png}
  - {id: closing, prompt: pull back, chain: true}
deliverable:
  transition: crossfade
  transition_seconds: 0.25
  renditions: ["16:9", "9:16", "1:1"]
  fit: pad
  audio: mute
  soundtrack: music.wav
  poster: {shot: continued, at: 0.5}
"""


def _record(store_root: Path, asset: str, campaign: str, model):
    return model.model_validate_json((store_root / f"records/{asset}/{campaign}.json").read_bytes())


@pytest.fixture(params=["xai", "local"])
def sequence_run(request, instance, drops_root, local_resources, xai_emulator_factory):
    folder = write_campaign(drops_root, "saga", shots=3, manifest=SEQUENCE)
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=330:sample_rate=44100",
            "-t",
            "1.5",
            "-y",
            str(folder / "music.wav"),
        ],
        check=True,
    )
    add_campaign_partition(instance, "saga")
    resources = dict(local_resources)
    emulator = None
    if request.param == "xai":
        emulator = xai_emulator_factory()
        resources["generator"] = xai_generator_for(emulator)
    result = materialize(campaign_assets, resources=resources, partition_key="saga", instance=instance)
    return result, Path(local_resources["store"].root), folder, emulator


def test_a_sequence_is_chained_pinned_and_finished(sequence_run, instance):
    result, store_root, folder, emulator = sequence_run
    assert result.success
    clips = {c.shot: c for c in _record(store_root, "generated_clips", "saga", GeneratedClips).clips}
    assert [c.status for c in clips.values()] == ["generated"] * 4

    for previous, chained in (("shot_1", "continued"), ("shot_2", "closing")):
        last = read_frame(store_root / clips[previous].clip_key, "last")
        first = read_frame(store_root / clips[chained].clip_key, "first")
        assert ssim(last, first) >= 0.98, (previous, chained)
    pinned_last = read_frame(store_root / clips["shot_2"].clip_key, "last")
    assert ssim(pinned_last, image_array(folder / "shot_3.png")) >= 0.9
    if emulator is not None:
        assert emulator.count("GenerateVideo", "OK") == 4

    delivered = _record(store_root, "deliverable", "saga", Deliverable)
    sizes = {f.aspect: (f.width, f.height) for f in delivered.renditions}
    assert sizes == {"16:9": (854, 480), "9:16": (480, 854), "1:1": (480, 480)}
    for rendition in delivered.renditions:
        info = probe(store_root / rendition.key)
        assert (info.width, info.height) == sizes[rendition.aspect]
        assert info.video_duration == pytest.approx(4 - 3 * 0.25, abs=1 / 24 + 1e-3)
        assert abs(info.audio_duration - info.video_duration) <= 1 / 24 + 0.03
    assert measure_loudness(store_root / delivered.master_key) == pytest.approx(-16, abs=1)
    assert (store_root / delivered.poster_key).stat().st_size > 0
    assert (store_root / delivered.contact_sheet_key).stat().st_size > 0
    metadata = instance.get_latest_materialization_event(AssetKey("deliverable")).asset_materialization.metadata
    assert metadata["poster_thumbnail"].value.startswith("![")
    assert metadata["loudness_lufs"].value == pytest.approx(-16, abs=1)
