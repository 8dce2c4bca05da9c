"""Pay once, on real Dagster instances through the real xai_sdk and the emulator: two CLI processes running one
campaign at once, each with its own instance, pay once per distinct clip (concurrent runs in threads are in
``resources/test_claims.py``: two Dagster runs in threads of one process can deadlock in Dagster's logging setup);
a download that fails keeps the paid result for the next run and the failed shot reports its calls and cost;
``budget_usd`` caps the campaign's total across runs; a cached clip that does not decode is healed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.instance.ref import InstanceRef

from media_pipeline.assets import campaign_assets
from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.records import GeneratedClips, ShotClip
from media_pipeline.resources.io_manager import read_record
from media_pipeline.resources.xai import ledger

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition
from .xai_builders import TEST_API_KEY, EmulatorFactory, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

CLIP_USD = 0.09  # 1 s at 480p plus one image
TWINS = SMALL_MANIFEST + (
    "shots:\n  - {image: shot_1.png, id: hero, prompt: push in}\n  - {image: shot_2.png, prompt: pan left}\n"
    "  - {image: shot_1.png, id: hero-again, prompt: push in}\n"
)  # three shots, two distinct clips


def _run(instance: DagsterInstance, resources: dict, campaign: str):
    return materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, raise_on_error=False
    )


def _clip_metadata(instance: DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(AssetKey("generated_clips"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _shots(resources: dict, campaign: str) -> dict[str, ShotClip]:
    """The shots of the campaign's ``generated_clips`` record, as the asset returned them."""
    return {c.shot: c for c in read_record(resources["store"], "generated_clips", campaign, GeneratedClips).clips}


def _cli_env(tmp_path: Path, name: str, emulator: XaiEmulator) -> dict:
    dagster_home = tmp_path / name
    dagster_home.mkdir()
    return dict(
        os.environ, DAGSTER_HOME=str(dagster_home), TMPDIR=str(dagster_home), MEDIA_PIPELINE_HOME=str(tmp_path),
        XAI_API_KEY=TEST_API_KEY, XAI_API_HOST=emulator.api_host, XAI_USE_INSECURE_CHANNEL="1",
    )  # fmt: skip


@pytest.mark.slow
def test_two_cli_processes_at_once_pay_once_per_clip(tmp_path: Path, xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(latency_seconds=1.5)
    write_campaign(tmp_path / "drops", "twins", shots=2, manifest=TWINS)
    command = [sys.executable, "-m", "media_pipeline.cli", "run", "twins", "--json"]
    pipe = subprocess.PIPE
    runs = [
        subprocess.Popen(command, env=_cli_env(tmp_path, name, emulator), stdout=pipe, stderr=pipe, text=True)
        for name in ("a", "b")
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
        assert json.loads(out)["status"] == "success"
    assert len(emulator.paid_requests) == 2 and emulator.count("GenerateVideo") == 2
    submits = []
    for name in ("a", "b"):  # what each run's own instance recorded
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path / name))) as instance:
            meta = _clip_metadata(instance)
            submits.append(meta["xai.submits"])
            assert meta["clips.failed"] == 0
    assert sum(submits) == 2, submits


def test_a_failed_download_is_reported_with_its_cost_and_finished_next_run_without_paying(
    instance: DagsterInstance, drops_root: Path, local_resources: dict, xai_emulator_factory: EmulatorFactory
) -> None:
    emulator = xai_emulator_factory(download_500_first=2)
    write_campaign(drops_root, "flaky", shots=1, manifest=SMALL_MANIFEST)
    add_campaign_partition(instance, "flaky")
    resources = dict(local_resources, generator=xai_generator_for(emulator, download_attempts=2))
    result = _run(instance, resources, "flaky")
    assert not result.success
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "shot_1" in message and "HTTP 500" in message and "the paid result is kept" in message
    failed = _shots(resources, "flaky")["shot_1"]
    assert failed.status == "failed" and failed.cost_usd == pytest.approx(CLIP_USD) and failed.api_calls >= 2
    assert failed.request_id and failed.request_id in message
    assert _clip_metadata(instance)["xai.cost_usd"] == pytest.approx(CLIP_USD)

    emulator.reset_counts()
    assert _run(instance, resources, "flaky").success
    assert emulator.count("GenerateVideo") == 0 and emulator.count("GetDeferredVideo") == 0
    assert _shots(resources, "flaky")["shot_1"].status == "generated"
    assert ledger.spent(local_resources["store"], "flaky") == pytest.approx(CLIP_USD)


def test_the_budget_caps_the_campaign_total_across_runs(
    instance: DagsterInstance, drops_root: Path, local_resources: dict, xai_emulator: XaiEmulator
) -> None:
    folder = write_campaign(drops_root, "thrifty", shots=2, manifest=SMALL_MANIFEST + "budget_usd: 0.20\n")
    add_campaign_partition(instance, "thrifty")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    assert _run(instance, resources, "thrifty").success  # $0.18 of $0.20
    assert _clip_metadata(instance)["campaign_spent_usd"] == pytest.approx(2 * CLIP_USD)
    assert _run(instance, resources, "thrifty").success  # nothing to pay: a re-run is free and allowed

    write_campaign(drops_root, "thrifty", shots=3)  # a third shot: $0.09 more would make $0.27
    (folder / "campaign.yaml").write_text(SMALL_MANIFEST + "budget_usd: 0.20\n", encoding="utf-8")
    xai_emulator.reset_counts()
    result = _run(instance, resources, "thrifty")
    assert not result.success and xai_emulator.count("GenerateVideo") == 0
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "$0.09" in message and "$0.18 the campaign has already spent" in message and "$0.20" in message


def test_a_cached_clip_that_does_not_decode_is_healed(
    instance: DagsterInstance, drops_root: Path, local_resources: dict, xai_emulator: XaiEmulator
) -> None:
    write_campaign(drops_root, "heal", shots=2, manifest=SMALL_MANIFEST)
    add_campaign_partition(instance, "heal")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    assert _run(instance, resources, "heal").success
    broken = _shots(resources, "heal")["shot_2"].clip_key
    store = Path(local_resources["store"].root)
    (store / broken).write_bytes((store / broken).read_bytes()[:5000])  # truncated on disk
    xai_emulator.reset_counts()

    result = _run(instance, resources, "heal")
    assert result.success
    meta = _clip_metadata(instance)
    assert meta["clips.healed"] == 1 and meta["xai.cache_hits"] == 1
    shots = _shots(resources, "heal")
    assert shots["shot_2"].healed and shots["shot_2"].status == "generated" and not shots["shot_1"].healed
    # made again from the paid result the journal kept: a download, no new request
    assert xai_emulator.count("GenerateVideo") == 0 and xai_emulator.count("download", "200") == 1

    xai_emulator.reset_counts()
    assert _run(instance, resources, "heal").success  # healed for good
    assert _clip_metadata(instance)["clips.healed"] == 0 and xai_emulator.calls == {}
