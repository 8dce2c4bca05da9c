"""What SDK 1.21 adds, end to end through the real xai_sdk over gRPC against the emulator on a real Dagster
instance: silent clips (``audio: false``), keyframes and reference images, and their refusal before paying on a
model whose catalog entry lacks them.
"""

import json
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.campaign import CampaignError, load_campaign
from media_pipeline.media.probe import probe

from .builders import write_campaign
from .conftest import add_campaign_partition
from .xai_builders import xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

BASE = "resolution: 480p\nduration: 1\ndeliverable: {transition: cut}\n"


def _clips_by_shot(store: Path, campaign: str) -> dict[str, Path]:
    journals = [json.loads(p.read_text()) for p in (store / f"jobs/{campaign}").iterdir()]
    return {j["shot"]: store / f"clips/{j['cache_key']}.mp4" for j in journals}


def test_audio_false_makes_silent_clips_and_a_shot_may_keep_its_sound(
    instance, drops_root, local_resources, xai_emulator
):
    manifest = BASE + (
        "audio: false\n"
        "shots:\n"
        "  - {image: shot_1.png, id: quiet}\n"
        "  - {image: shot_1.png, id: loud, audio: true}\n"  # same image: the audio setting alone splits the clips
    )
    write_campaign(drops_root, "hush", shots=1, size=(160, 90), manifest=manifest)
    add_campaign_partition(instance, "hush")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = materialize(campaign_assets, resources=resources, partition_key="hush", instance=instance)
    assert result.success
    assert sorted(p.audio for p in xai_emulator.paid_requests) == [False, True]
    clips = _clips_by_shot(Path(local_resources["store"].root), "hush")
    assert clips["quiet"] != clips["loud"]
    assert not probe(clips["quiet"]).has_audio
    assert probe(clips["loud"]).has_audio
    assert probe(clips["quiet"]).video_duration == pytest.approx(1.0, abs=0.1)


def _deliver_three_shots(instance, drops_root, local_resources, emulator, campaign: str, manifest: str) -> dict:
    """Drop three tiny images with ``manifest``, materialize the campaign through the emulator; the resources."""
    write_campaign(drops_root, campaign, shots=3, size=(160, 90), manifest=manifest)
    add_campaign_partition(instance, campaign)
    resources = dict(local_resources, generator=xai_generator_for(emulator))
    assert materialize(campaign_assets, resources=resources, partition_key=campaign, instance=instance).success
    return resources


def test_keyframes_and_reference_images_reach_the_api_and_are_billed(
    instance, drops_root, local_resources, xai_emulator
):
    manifest = BASE + (
        "shots:\n"
        "  - image: shot_1.png\n"
        "    keyframes: [{image: shot_2.png, timestamp: 0.5}]\n"
        "    reference_images: [shot_3.png]\n"
    )
    resources = _deliver_three_shots(instance, drops_root, local_resources, xai_emulator, "pins", manifest)
    (paid,) = xai_emulator.paid_requests
    assert (paid.keyframes, paid.reference_images, paid.audio) == (1, 1, True)
    assert paid.usd == pytest.approx(0.08 + 3 * 0.01)  # 1 s of 480p and three input images
    event = instance.get_latest_materialization_event(AssetKey("generated_clips"))
    assert event.asset_materialization.metadata["xai.cost_usd"].value == pytest.approx(paid.usd)

    # a new keyframe time is a new clip; the same inputs again are a cache hit
    xai_emulator.reset_counts()
    assert materialize(campaign_assets, resources=resources, partition_key="pins", instance=instance).success
    assert xai_emulator.count("GenerateVideo") == 0
    folder = drops_root / "pins"
    (folder / "campaign.yaml").write_text(manifest.replace("timestamp: 0.5", "timestamp: 0.25"), encoding="utf-8")
    assert materialize(campaign_assets, resources=resources, partition_key="pins", instance=instance).success
    assert xai_emulator.count("GenerateVideo", "OK") == 1


def test_keyframes_on_a_model_without_them_are_refused_before_paying():
    manifest = "model: grok-imagine-video\nshots:\n  - {image: a.png, keyframes: [{image: b.png, timestamp: 1}]}\n"
    with pytest.raises(CampaignError) as refused:
        load_campaign("spring", ["a.png", "b.png"], manifest)
    message = str(refused.value)
    assert "campaign 'spring'" in message and "shot 'a'" in message and "'keyframes'" in message
    assert "grok-imagine-video accepts none" in message


def test_batch_mode_carries_audio_keyframes_and_reference_images(
    instance, drops_root, local_resources, xai_emulator, monkeypatch
):
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "60")
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_POLL_SECONDS", "0.05")
    manifest = BASE + (
        "mode: batch\n"
        "shots:\n"
        "  - {image: shot_1.png, audio: false, reference_images: [shot_3.png],"
        " keyframes: [{image: shot_2.png, timestamp: 0.5}]}\n"
    )
    _deliver_three_shots(instance, drops_root, local_resources, xai_emulator, "lot", manifest)
    (paid,) = xai_emulator.paid_requests
    assert paid.batch_id and (paid.audio, paid.keyframes, paid.reference_images) == (False, 1, 1)
    (clip,) = _clips_by_shot(Path(local_resources["store"].root), "lot").values()
    assert not probe(clip).has_audio


def test_the_local_animator_makes_a_silent_clip_too(instance, drops_root, local_resources):
    write_campaign(drops_root, "still", shots=1, size=(160, 90), manifest=BASE + "audio: false\n")
    add_campaign_partition(instance, "still")
    assert materialize(campaign_assets, resources=local_resources, partition_key="still", instance=instance).success
    (clip,) = (Path(local_resources["store"].root) / "clips").glob("*.mp4")
    info = probe(clip)
    assert not info.has_audio and info.video_duration == pytest.approx(1.0, abs=0.1)
