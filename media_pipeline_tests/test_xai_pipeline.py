"""Campaigns generated through XaiVideoGenerator, the real xai_sdk client and the emulator over gRPC, on a real
Dagster instance: delivered, capped fan-out, moderation, caching, budget, the key kept secret, crash and resume.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.probe import probe

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition
from .xai_builders import TEST_API_KEY, xai_cli_env, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def _run(instance, resources, campaign, raise_on_error=True):
    return materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, raise_on_error=raise_on_error
    )


def _clip_metadata(instance) -> dict:
    event = instance.get_latest_materialization_event(AssetKey("generated_clips"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_campaign_is_delivered_through_the_sdk_and_a_second_run_calls_generate_zero_times(
    instance, drops_root, local_resources, xai_emulator, caplog
):
    write_campaign(drops_root, "launch", shots=3, manifest=SMALL_MANIFEST)
    add_campaign_partition(instance, "launch")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = _run(instance, resources, "launch")
    assert result.success
    assert xai_emulator.count("GenerateVideo", "OK") == 3
    meta = _clip_metadata(instance)
    assert meta["xai.cost_usd"] == pytest.approx(3 * (0.08 + 0.01))
    assert meta["xai.video_seconds"] == pytest.approx(3.0, abs=0.1)
    assert meta["xai.calls"] >= 6 and meta["xai.cache_hits"] == 0
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["first_frames_faithful"] and checks["deliverable_conformant"]
    store = Path(local_resources["store"].root)
    assert probe(store / "deliverables/launch/launch.mp4").video_duration == pytest.approx(2.5, abs=0.05)
    journals = [json.loads(p.read_text()) for p in (store / "jobs/launch").iterdir()]
    assert sorted((j["shot"], j["status"]) for j in journals) == [(f"shot_{i}", "done") for i in (1, 2, 3)]
    assert not list((store / "claims").rglob("*.json"))  # every claim released with its clip stored

    xai_emulator.reset_counts()
    assert _run(instance, resources, "launch").success
    assert xai_emulator.count("GenerateVideo") == 0
    assert _clip_metadata(instance)["xai.cache_hits"] == 3

    # the key is in no log line, metadata value, event, or stored file
    assert TEST_API_KEY not in caplog.text
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            assert TEST_API_KEY not in str(entry)
    for path in store.rglob("*"):
        if path.is_file():
            assert TEST_API_KEY.encode() not in path.read_bytes(), path


def test_sixteen_shots_through_an_emulator_capped_at_four_are_all_delivered(
    instance, drops_root, local_resources, xai_emulator_factory
):
    emulator = xai_emulator_factory(max_concurrent=4, latency_seconds=0.3)
    write_campaign(
        drops_root,
        "sku",
        shots=16,
        size=(160, 90),
        manifest="resolution: 480p\nduration: 1\ndeliverable: {transition: cut}\n",
    )
    add_campaign_partition(instance, "sku")
    # back-off long enough to outlast the emulator's render queue (production: 6 retries capped at 30 s)
    generator = xai_generator_for(emulator, max_concurrent=8, max_retries=200, backoff_cap_seconds=0.5)
    resources = dict(local_resources, generator=generator)
    assert _run(instance, resources, "sku").success
    assert emulator.count("GenerateVideo", "OK") == 16
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") > 0
    assert _clip_metadata(instance)["clips.generated"] == 16


def test_a_moderated_shot_is_reported_while_the_others_are_generated(
    instance, drops_root, local_resources, xai_emulator
):
    manifest = SMALL_MANIFEST + (
        "shots:\n  - {image: shot_1.png, prompt: push in}\n"
        "  - {image: shot_2.png, prompt: '[moderate] something'}\n  - {image: shot_3.png, prompt: pan left}\n"
    )
    write_campaign(drops_root, "mod", shots=3, manifest=manifest)
    add_campaign_partition(instance, "mod")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = _run(instance, resources, "mod", raise_on_error=False)
    meta = _clip_metadata(instance)
    assert meta["clips.generated"] == 2 and meta["clips.failed"] == 1
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "shot_2" in message and "moderation" in message
    assert xai_emulator.count("GenerateVideo", "OK") == 3  # one submission each, no retry of the moderated one


def test_a_budget_below_the_estimate_submits_nothing(instance, drops_root, local_resources, xai_emulator):
    write_campaign(drops_root, "thrifty", shots=2, manifest=SMALL_MANIFEST + "budget_usd: 0.05\n")
    add_campaign_partition(instance, "thrifty")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = _run(instance, resources, "thrifty", raise_on_error=False)
    failure = result.get_step_failure_events()[0]
    assert failure.step_key == "generated_clips"
    assert "$0.18" in failure.event_specific_data.error.message and "$0.05" in failure.event_specific_data.error.message
    assert xai_emulator.count("GenerateVideo") == 0


def test_a_run_killed_mid_poll_resumes_its_journaled_requests_without_paying_again(tmp_path, xai_emulator_factory):
    emulator = xai_emulator_factory(latency_seconds=6)
    write_campaign(tmp_path / "drops", "crash", shots=2, manifest=SMALL_MANIFEST)
    env = xai_cli_env(tmp_path, emulator)
    estimate = subprocess.run(
        [sys.executable, "-m", "media_pipeline.cli", "estimate", "crash"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "2 uncached shot(s), estimated $0.18" in estimate.stdout, estimate.stderr[-2000:]

    first = subprocess.Popen(
        [sys.executable, "-m", "media_pipeline.cli", "run", "crash", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    jobs = tmp_path / "store" / "jobs" / "crash"

    def journaled() -> int:  # entries holding a request id (each is written "submitting" before its call)
        return sum(json.loads(p.read_text()).get("status") == "submitted" for p in jobs.glob("*.json"))

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and journaled() < 2:
        time.sleep(0.2)
    assert journaled() == 2, "the run never journaled its requests"
    time.sleep(0.5)  # polling now
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    submitted = emulator.count("GenerateVideo", "OK")
    assert submitted == 2

    second = subprocess.run(
        [sys.executable, "-m", "media_pipeline.cli", "run", "crash", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads(second.stdout)
    assert [s["status"] for s in summary["shots"]] == ["generated", "generated"]
    assert emulator.count("GenerateVideo") == submitted  # nothing new was submitted
    assert TEST_API_KEY not in second.stdout + second.stderr


def test_identical_shots_in_one_campaign_are_paid_for_once(instance, drops_root, local_resources, xai_emulator):
    manifest = SMALL_MANIFEST + (
        "shots:\n  - {image: shot_1.png, id: hero, prompt: push in}\n"
        "  - {image: shot_2.png, prompt: pan left}\n"
        "  - {image: shot_1.png, id: hero-again, prompt: push in}\n"
    )
    write_campaign(drops_root, "twins", shots=2, manifest=manifest)
    add_campaign_partition(instance, "twins")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    assert _run(instance, resources, "twins").success
    assert xai_emulator.count("GenerateVideo", "OK") == 2
    meta = _clip_metadata(instance)
    assert meta["clips.generated"] == 2 and meta["xai.cache_hits"] == 1
    assert meta["estimate_usd"] == pytest.approx(2 * (0.08 + 0.01))  # the shared clip is estimated once
