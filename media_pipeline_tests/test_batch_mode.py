"""Batch mode (``mode: batch``) end to end: the real xai_sdk over gRPC to the emulator's BatchMgmt service, on a
real Dagster instance: a campaign delivered through batches (a chained shot in the next wave), a run that leaves the
batch open and the batch sensor that requests the next run, a SIGKILLed ``media-pipeline run`` resumed without a new
batch, a result URL that lapsed before download, and estimates per model equal to what the emulator billed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, build_sensor_context, materialize
from dagster._core.test_utils import create_run_for_test

from media_pipeline.assets import campaign_assets
from media_pipeline.batch_sensor import build_batch_sensor
from media_pipeline.campaign import BATCH_CARRIES, CampaignError, load_campaign
from media_pipeline.definitions import build_defs
from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.media.probe import probe
from media_pipeline.partitions import Pipeline
from media_pipeline.resources.xai.batch_journal import BatchEntry, read_batches, write_batch
from media_pipeline.resources.xai.catalog import MODELS_ENV, catalog_from_env, default_catalog
from media_pipeline.shots import Shot

from .builders import write_campaign
from .conftest import add_campaign_partition
from .xai_builders import TEST_API_KEY, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

BATCH = "mode: batch\nresolution: 480p\nduration: 1\naspect_ratio: '16:9'\ndeliverable: {transition: cut}\n"
CHAINED = BATCH + (
    "shots:\n  - {image: shot_1.png, prompt: push in}\n  - {image: shot_2.png, prompt: pan left}\n"
    "  - {id: shot_2b, chain: true, prompt: pan right}\n"
)


@pytest.fixture
def batch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The step waits up to 60 s for results, polling every 50 ms."""
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "60")
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_POLL_SECONDS", "0.05")


def _run(instance: DagsterInstance, resources: dict, campaign: str):
    return materialize(campaign_assets, resources=resources, partition_key=campaign, instance=instance)


def _metadata(instance: DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(AssetKey("generated_clips"))
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _batch_price(model: str, shots: int = 3) -> float:
    spec = default_catalog().get(model)
    return shots * spec.price_usd(duration=1, resolution="480p", input_images=1, batch=True)


def test_a_batch_campaign_is_delivered_with_its_chain_in_a_second_wave(
    instance, drops_root, local_resources, xai_emulator, batch_env
):
    write_campaign(drops_root, "night", shots=2, manifest=CHAINED)
    add_campaign_partition(instance, "night")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = _run(instance, resources, "night")
    assert result.success
    # wave 1: the two lanes' first shots in one batch; wave 2: the chained shot, from shot_2's last frame
    assert xai_emulator.count("CreateBatch", "OK") == 2 and xai_emulator.count("AddBatchRequests", "OK") == 2
    assert xai_emulator.count("GenerateVideo") == 0
    paid = xai_emulator.stats["paid"]
    assert paid["batch_requests"] == 3 and paid["submits"] == 0
    meta = _metadata(instance)
    assert meta["xai.cost_usd"] == pytest.approx(paid["usd"]) == pytest.approx(_batch_price("grok-imagine-video-1.5"))
    assert meta["estimate_usd"] == pytest.approx(paid["usd"])
    assert meta["clips.generated"] == 3 and meta["xai.submits"] == 3
    store = Path(local_resources["store"].root)
    assert probe(store / "deliverables/night/night.mp4").video_duration == pytest.approx(3.0, abs=0.05)
    assert all(b.status == "closed" for b in read_batches(local_resources["store"], "night"))
    assert not list((store / "claims").rglob("*.json"))
    journals = [json.loads(p.read_text()) for p in (store / "jobs/night").iterdir()]
    assert sorted(j["status"] for j in journals) == ["done"] * 3

    xai_emulator.reset_counts()
    assert _run(instance, resources, "night").success  # everything cached: no batch, no call
    assert xai_emulator.count("CreateBatch") == 0 and _metadata(instance)["xai.cache_hits"] == 3


def test_a_run_leaves_an_open_batch_to_the_sensor_which_requests_the_run_that_delivers(
    instance, drops_root, local_resources, xai_emulator_factory, monkeypatch
):
    emulator = xai_emulator_factory(batch_latency_seconds=5.0)
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "0")
    write_campaign(drops_root, "later", shots=2, manifest=BATCH)
    add_campaign_partition(instance, "later")
    generator = xai_generator_for(emulator)
    resources = dict(local_resources, generator=generator)
    first = _run(instance, resources, "later")
    assert first.success  # nothing failed: the clips are waiting
    assert instance.get_latest_materialization_event(AssetKey("generated_clips")) is None
    assert [e.step_key for e in first.all_events if e.event_type_value == "STEP_SKIPPED"] == ["deliverable"]
    (check,) = [c for c in first.get_asset_check_evaluations() if c.check_name == "first_frames_faithful"]
    assert check.passed and "shot_1: in xAI batch request" in check.metadata["waiting"].value
    assert emulator.count("AddBatchRequests", "OK") == 1

    sensor = build_batch_sensor(Pipeline())
    store = local_resources["store"]

    cursor: list[str | None] = [None]

    def tick() -> list:
        resources = {"store": store, "generator": generator}
        with build_sensor_context(instance=instance, resources=resources, cursor=cursor[0]) as context:
            result = sensor(context)
        cursor[0] = result.cursor
        return list(result.run_requests or [])

    assert tick() == []  # still pending: nothing to take yet
    deadline = time.monotonic() + 30
    while not (requests := tick()) and time.monotonic() < deadline:
        time.sleep(0.2)
    (request,) = requests  # one run for the campaign, once its results are in
    assert request.partition_key == "later" and request.run_key.endswith(":2")
    busy = create_run_for_test(instance, status=DagsterRunStatus.STARTED, tags={"dagster/partition": "later"})
    assert tick() == []  # a run of the campaign in progress takes the results itself
    instance.delete_run(busy.run_id)

    second = _run(instance, resources, "later")
    assert second.success
    assert emulator.count("AddBatchRequests", "OK") == 1 and emulator.count("CreateBatch", "OK") == 1
    meta = _metadata(instance)
    assert meta["clips.generated"] == 2 and meta["xai.cost_usd"] == pytest.approx(emulator.stats["paid"]["usd"])
    assert instance.get_latest_materialization_event(AssetKey("deliverable")) is not None
    assert tick() == []  # the batch is closed, and the sensor no longer reads its journal
    assert json.loads(cursor[0] or "[]") == [b.key for b in read_batches(store, "later")]


def test_a_result_whose_url_lapsed_goes_out_again_in_a_new_batch_counted_and_costed(
    instance, drops_root, local_resources, xai_emulator_factory, monkeypatch
):
    emulator = xai_emulator_factory(batch_latency_seconds=0.2, batch_url_ttl_seconds=2.0)
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "0")
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_POLL_SECONDS", "0.05")
    write_campaign(drops_root, "lapse", shots=2, manifest=BATCH)
    add_campaign_partition(instance, "lapse")
    resources = dict(local_resources, generator=xai_generator_for(emulator))
    assert _run(instance, resources, "lapse").success  # the batch is sent; nobody takes its results in time
    time.sleep(3.0)
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "60")
    assert _run(instance, resources, "lapse").success
    assert emulator.count("download", "expired") == 2
    assert emulator.count("CreateBatch", "OK") == 2  # the two lapsed shots in one new batch
    paid = emulator.stats["paid"]
    assert paid["batch_requests"] == 4
    meta = _metadata(instance)
    assert meta["clips.generated"] == 2 and meta["xai.submits"] == 2
    assert meta["campaign_spent_usd"] == pytest.approx(paid["usd"])  # the lapsed results stay in the ledger
    assert meta["xai.cost_usd"] == pytest.approx(paid["usd"])  # taken in this run: each shot paid twice
    assert Path(local_resources["store"].root, "deliverables/lapse/lapse.mp4").exists()


def test_a_moderated_batch_request_fails_its_shot_and_a_re_run_sends_it_again(
    instance, drops_root, local_resources, xai_emulator, batch_env
):
    manifest = (
        BATCH
        + "on_failed_shots: skip\nshots:\n  - {image: shot_1.png, prompt: push in}\n"
        + ("  - {image: shot_2.png, prompt: '[moderate] pan left'}\n")
    )
    write_campaign(drops_root, "strict", shots=2, manifest=manifest)
    add_campaign_partition(instance, "strict")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    assert _run(instance, resources, "strict").success  # delivered without the moderated shot
    meta = _metadata(instance)
    assert meta["clips.generated"] == 1 and meta["clips.failed"] == 1
    assert "shot_2" in meta["shots"] and "content_moderation" in meta["shots"]
    assert xai_emulator.count("AddBatchRequests", "OK") == 1
    assert _run(instance, resources, "strict").success
    assert xai_emulator.count("AddBatchRequests", "OK") == 2  # the failed shot alone goes out again
    assert xai_emulator.stats["paid"]["batch_requests"] == 3


def test_the_budget_applies_to_batch_requests_at_the_batch_price(
    instance, drops_root, local_resources, xai_emulator, batch_env
):
    folder = write_campaign(drops_root, "thrifty", shots=2, manifest=BATCH + "budget_usd: 0.05\n")
    add_campaign_partition(instance, "thrifty")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    refused = materialize(campaign_assets, resources=resources, partition_key="thrifty", instance=instance,
                          raise_on_error=False)  # fmt: skip
    message = refused.get_step_failure_events()[0].event_specific_data.error.message
    assert "$0.09" in message and "budget_usd $0.05" in message  # 2 x $0.045 at the batch price
    assert xai_emulator.count("CreateBatch") == 0 and xai_emulator.count("AddBatchRequests") == 0
    (folder / "campaign.yaml").write_text(BATCH + "budget_usd: 0.1\n")  # under the sync price ($0.18), over batch
    assert _run(instance, resources, "thrifty").success
    assert xai_emulator.stats["paid"]["usd"] == pytest.approx(0.09)


PRICES = {  # distinct prices and batch factors per model, for the pipeline and the emulator alike
    "grok-imagine-video": {"usd_per_second": {"480p": 0.05, "720p": 0.07}, "batch_price_factor": 0.6},
    "grok-imagine-video-1.5-lite": {"usd_per_second": {"480p": 0.03, "720p": 0.05, "1080p": 0.1},
                                    "batch_price_factor": 0.4},
}  # fmt: skip


@pytest.mark.parametrize("model", [spec.id for spec in default_catalog().specs])
def test_the_batch_estimate_of_each_model_is_what_the_emulator_billed(
    instance, drops_root, local_resources, xai_emulator_factory, batch_env, monkeypatch, model
):
    monkeypatch.setenv(MODELS_ENV, json.dumps(PRICES))
    catalog = catalog_from_env(os.environ)
    emulator = xai_emulator_factory(catalog=catalog)
    write_campaign(drops_root, "priced", shots=2, manifest=BATCH + f"model: {model}\n")
    add_campaign_partition(instance, "priced")
    assert _run(instance, dict(local_resources, generator=xai_generator_for(emulator)), "priced").success
    billed = emulator.stats["paid"]["by_model"][model]["usd"]
    expected = 2 * catalog.get(model).price_usd(duration=1, resolution="480p", batch=True)
    assert _metadata(instance)["estimate_usd"] == pytest.approx(billed) == pytest.approx(expected)
    assert _metadata(instance)["xai.cost_usd"] == pytest.approx(billed)


def test_every_per_shot_key_is_carried_by_a_batch_request_or_refused_naming_campaign_shot_and_key():
    uncarried = set(Shot.model_fields) - BATCH_CARRIES
    for key in sorted(uncarried):  # a per-shot key added without a batch path is refused before paying
        with pytest.raises(CampaignError, match=rf"campaign 'c'.*shot 'a'.*{key}"):
            load_campaign("c", ["a.png"], f"mode: batch\nshots:\n  - {{image: a.png, {key}: x}}\n")
    assert BATCH_CARRIES <= set(Shot.model_fields)
    with pytest.raises(CampaignError, match="campaign 'c', file campaign.yaml: mode: "):
        load_campaign("c", ["a.png"], "mode: overnight\n")


def _cli_env(home: Path, emulator: XaiEmulator, **extra: str) -> dict:
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return dict(os.environ, MEDIA_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), TMPDIR=str(home),
                XAI_API_KEY=TEST_API_KEY, XAI_API_HOST=emulator.api_host, XAI_USE_INSECURE_CHANNEL="1",
                MEDIA_PIPELINE_BATCH_POLL_SECONDS="0.1", **extra)  # fmt: skip


@pytest.mark.slow
def test_a_run_killed_while_waiting_on_its_batch_is_resumed_without_a_new_batch(tmp_path, xai_emulator_factory):
    emulator = xai_emulator_factory(batch_latency_seconds=8)
    write_campaign(tmp_path / "drops", "overnight", shots=3, manifest=BATCH)
    env = _cli_env(tmp_path, emulator, MEDIA_PIPELINE_BATCH_WAIT_SECONDS="120")
    run = [sys.executable, "-m", "media_pipeline.cli", "run", "overnight", "--json"]
    first = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    batches = tmp_path / "store" / "batches" / "overnight"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and '"open"' not in "".join(p.read_text() for p in batches.glob("*.json")):
        time.sleep(0.2)
    time.sleep(0.5)  # waiting on the batch now
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert (emulator.count("CreateBatch", "OK"), emulator.count("AddBatchRequests", "OK")) == (1, 1)

    second = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    summary = json.loads(second.stdout)
    assert [s["status"] for s in summary["shots"]] == ["generated"] * 3
    assert summary["cost_usd"] == pytest.approx(_batch_price("grok-imagine-video-1.5"))
    assert (emulator.count("CreateBatch"), emulator.count("AddBatchRequests")) == (1, 1)  # nothing new was sent
    assert emulator.stats["paid"]["batch_requests"] == 3 and emulator.count("GenerateVideo") == 0
    assert TEST_API_KEY not in second.stdout + second.stderr


@pytest.mark.slow
def test_two_runs_of_one_batch_campaign_at_once_send_one_batch(tmp_path, xai_emulator_factory):
    emulator = xai_emulator_factory(batch_latency_seconds=3)
    write_campaign(tmp_path / "drops", "twice", shots=3, manifest=BATCH)
    env = _cli_env(tmp_path, emulator, MEDIA_PIPELINE_BATCH_WAIT_SECONDS="120")
    run = [sys.executable, "-m", "media_pipeline.cli", "run", "twice", "--json"]
    both = [subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"]
    outputs = [p.communicate(timeout=300) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-2000:] for _, err in outputs]
    for out, _ in outputs:
        shots = json.loads(out)["shots"]
        assert len(shots) == 3 and {s["status"] for s in shots} <= {"generated", "cached"}  # whoever took it first
    assert (emulator.count("CreateBatch", "OK"), emulator.count("AddBatchRequests", "OK")) == (1, 1)
    assert emulator.stats["paid"]["batch_requests"] == 3


@pytest.mark.slow
def test_batch_mode_on_an_s3_store_keeps_its_batch_journal_in_the_bucket(
    s3_env, instance, tmp_path, xai_emulator_factory, monkeypatch
):
    emulator = xai_emulator_factory(batch_latency_seconds=3)
    bucket, client = s3_env.make_bucket(), s3_env.client()
    for path in sorted(write_campaign(tmp_path / "local", "cloud", shots=2, manifest=BATCH).iterdir()):
        client.upload_file(str(path), bucket, f"drops/cloud/{path.name}")
    home = tmp_path / "home"
    env = dict(s3_env.env(), MEDIA_PIPELINE_HOME=str(home), MEDIA_PIPELINE_STORE=f"s3://{bucket}/store",
               MEDIA_PIPELINE_DROPS=f"s3://{bucket}/drops", XAI_API_KEY=TEST_API_KEY, XAI_API_HOST=emulator.api_host,
               XAI_USE_INSECURE_CHANNEL="1", MEDIA_PIPELINE_BATCH_WAIT_SECONDS="0",
               MEDIA_PIPELINE_BATCH_POLL_SECONDS="0.1")  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    defs = build_defs(env)
    instance.add_dynamic_partitions("campaigns", ["cloud"])
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(partition_key="cloud", instance=instance).success
    listing = client.list_objects_v2(Bucket=bucket, Prefix="store/batches/cloud/").get("Contents", [])
    assert len(listing) == 1  # the batch journal, in the bucket
    assert not home.exists() or not any(p.is_file() for p in home.rglob("*"))

    resources = defs.get_repository_def().get_top_level_resources()
    deadline, requests = time.monotonic() + 30, []
    while not requests and time.monotonic() < deadline:
        time.sleep(0.5)
        with build_sensor_context(instance=instance, resources=resources) as context:
            requests = list(defs.get_sensor_def("xai_batch_sensor")(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["cloud"]
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "60")
    assert job.execute_in_process(partition_key="cloud", instance=instance).success
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="store/").get("Contents", [])]
    assert "store/deliverables/cloud/cloud.mp4" in keys
    assert (emulator.count("CreateBatch", "OK"), emulator.count("AddBatchRequests", "OK")) == (1, 1)


def test_the_sensor_requests_a_run_for_a_batch_a_dead_run_left_adding(instance, local_resources, xai_emulator):
    store = local_resources["store"]
    write_batch(store, BatchEntry(batch_id="batch_x", campaign="orphan", model="m", created_at="2026-11-25T00:00:00"))
    resources = {"store": store, "generator": xai_generator_for(xai_emulator)}
    with build_sensor_context(instance=instance, resources=resources) as context:
        (request,) = build_batch_sensor(Pipeline())(context).run_requests
    assert (request.partition_key, request.run_key) == ("orphan", "batch_x:adding")
    assert xai_emulator.count("GetBatch") == 0  # the journal alone says a run must reconcile it
