"""build_pipeline_defs: two pipelines in one code location share no Dagster name, and on one real instance each
one's sensor, schedule and job see only its own drop zone; the project's own location is one use of the factory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterInvariantViolationError,
    DefaultSensorStatus,
    Definitions,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    definitions,
    execute_job,
    in_process_executor,
    multiprocess_executor,
)
from dagster._core.definitions.reconstruct import ReconstructableRepository

from media_pipeline import Pipeline, build_pipeline_defs
from media_pipeline.definitions import build_defs
from media_pipeline.partitions import ASSET_JOB, STAGES
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.generator import LocalVideoGenerator
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.runner import run_campaign

from .builders import SMALL_MANIFEST, write_campaign

BRANDS = ("brand_a", "brand_b")


def _pipeline(root: Path, name: str, **options) -> Definitions:
    return build_pipeline_defs(
        name,
        drops=LocalDropZone(root=str(root / name / "drops")),
        store=LocalMediaStore(root=str(root / name / "store")),
        generator=LocalVideoGenerator(max_concurrent=2),
        **options,
    )


def _drop(root: Path, name: str, campaign: str, shots: int) -> Path:
    """A small settled drop (two minutes old) in pipeline ``name``'s drop zone."""
    folder = write_campaign(root / name / "drops", campaign, shots=shots, manifest=SMALL_MANIFEST, size=(160, 90))
    then = time.time() - 120
    for path in folder.iterdir():
        os.utime(path, (then, then))
    return folder


@pytest.fixture
def two(tmp_path: Path) -> Definitions:
    """brand_a and brand_b merged into one code location, each with its own drops and store."""
    return Definitions.merge(*(_pipeline(tmp_path, name, settle_seconds=0) for name in BRANDS))


def test_two_pipelines_load_as_one_location_and_share_no_name(two):
    Definitions.validate_loadable(two)
    repo = two.get_repository_def()
    assert {key.to_user_string() for key in two.resolve_all_asset_keys()} == {
        f"{brand}/{stage}" for brand in BRANDS for stage in STAGES
    }
    # the one job every materializing run is, as in the UI, and each pipeline's approval job (review: required)
    assert {job.name for job in repo.get_all_jobs()} == {ASSET_JOB} | {f"{b}_approve_deliverable" for b in BRANDS}
    sensors = {s.name: s.default_status for s in repo.sensor_defs}
    # the drop and batch sensors wait to be turned on; the missed-retry sensor runs (it acts only on a retry that
    # Dagster's daemon missed, on an instance with run retries on)
    assert sensors == {
        **{f"{b}_{s}": DefaultSensorStatus.STOPPED for b in BRANDS for s in ("image_drop_sensor", "xai_batch_sensor")},
        **{f"{b}_missed_retry_sensor": DefaultSensorStatus.RUNNING for b in BRANDS},
    }
    assert {s.name for s in repo.schedule_defs} == {f"{brand}_nightly_campaign_refresh" for brand in BRANDS}
    for brand in BRANDS:  # a run selects one pipeline's assets in it: that pipeline's partitions, assets, checks
        job = two.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(Pipeline(brand).asset_keys))
        assert job.partitions_def.name == f"{brand}_campaigns"
        assert set(job.asset_layer.executable_asset_keys) == set(Pipeline(brand).asset_keys)
        assert {check.asset_key for check in job.asset_layer.asset_graph.asset_check_keys} <= set(
            Pipeline(brand).asset_keys
        )
        for instigator in ("image_drop_sensor", "xai_batch_sensor", "missed_retry_sensor"):
            assert repo.get_sensor_def(f"{brand}_{instigator}").job_name == ASSET_JOB
        assert repo.get_schedule_def(f"{brand}_nightly_campaign_refresh").job_name == ASSET_JOB
        # every resource the pipeline's assets ask for is its own
        for key in Pipeline(brand).asset_keys:
            required = two.resolve_assets_def(key).required_resource_keys - {"io_manager"}
            assert required and all(r.startswith(f"{brand}_") for r in required)


def test_a_campaign_runs_in_one_process_unless_the_deployment_asks_for_isolation(tmp_path):
    default = _pipeline(tmp_path, "brand_a")
    assert default.resolve_implicit_global_asset_job_def().executor_def is in_process_executor
    isolated = _pipeline(tmp_path, "brand_b", executor=multiprocess_executor)
    assert isolated.resolve_implicit_global_asset_job_def().executor_def is multiprocess_executor
    with pytest.raises(DagsterInvariantViolationError, match="both have an executor"):  # one job, one executor
        Definitions.merge(default, isolated)
    # the project's own location: the same factory with the plain names; its executor also runs the UI's
    # Materialize, which Dagster launches as __ASSET_JOB
    own = build_defs({"MEDIA_PIPELINE_HOME": str(tmp_path / "home"), "MEDIA_PIPELINE_GENERATOR": "local"})
    Definitions.validate_loadable(own)
    assert own.resolve_implicit_global_asset_job_def().executor_def is in_process_executor
    assert {key.to_user_string() for key in own.resolve_all_asset_keys()} == set(STAGES)


def test_each_pipelines_sensor_and_schedule_see_only_its_own_drop_zone(two, tmp_path, instance: DagsterInstance):
    _drop(tmp_path, "brand_a", "spring", shots=1)
    _drop(tmp_path, "brand_b", "autumn", shots=1)
    _drop(tmp_path, "brand_b", "winter", shots=1)
    resources = two.get_repository_def().get_top_level_resources()
    for brand, campaigns in (("brand_a", ["spring"]), ("brand_b", ["autumn", "winter"])):
        with build_sensor_context(instance=instance, resources=resources) as context:
            result = two.get_sensor_def(f"{brand}_image_drop_sensor")(context)
        assert isinstance(result, SensorResult)
        assert [r.partition_key for r in result.run_requests] == campaigns
        assert all(r.asset_selection == list(Pipeline(brand).asset_keys) for r in result.run_requests)
        (added,) = result.dynamic_partitions_requests
        assert (added.partitions_def_name, list(added.partition_keys)) == (f"{brand}_campaigns", campaigns)
        instance.add_dynamic_partitions(added.partitions_def_name, list(added.partition_keys))
    schedule = two.get_schedule_def("brand_b_nightly_campaign_refresh")
    own = {key: value for key, value in resources.items() if key in ("brand_b_drops", "brand_b_store")}
    with build_schedule_context(instance=instance, resources=own) as context:  # closed: its resources' instance
        requests = schedule(context)
    assert sorted(r.partition_key for r in requests) == ["autumn", "winter"]
    assert all(r.asset_selection == list(Pipeline("brand_b").asset_keys) for r in requests)


@definitions
def own_location() -> Definitions:
    """The project's own location for the test's pipeline home; a run worker loads it from here, as from a
    workspace (``__ASSET_JOB`` is Dagster's, so it cannot be handed over as a job of its own)."""
    return build_defs()


@pytest.mark.slow
def test_a_run_through_the_instance_starts_no_process_per_step(tmp_path, instance: DagsterInstance, monkeypatch):
    monkeypatch.setenv("MEDIA_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEDIA_PIPELINE_GENERATOR", "local")
    _drop(tmp_path, "home", "spring", shots=1)  # <home>/drops, the location's default drop zone
    instance.add_dynamic_partitions("campaigns", ["spring"])
    job = ReconstructableRepository.for_module(__name__, "own_location").get_reconstructable_job(ASSET_JOB)
    with execute_job(job, instance, tags={"dagster/partition": "spring"}) as result:
        assert result.success
        events = {e.event_type for e in result.all_events}
        steps = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_SUCCESS}
    assert len(steps) == 4 and DagsterEventType.STEP_WORKER_STARTING not in events
    logs = instance.all_logs(result.run_id)
    pids = {e.dagster_event.pid for e in logs if e.is_dagster_event and e.dagster_event.step_key} - {None}
    assert pids == {os.getpid()}  # every step ran in the process that executed the run


@pytest.mark.slow
def test_two_pipelines_side_by_side_on_one_instance_deliver_only_their_own_campaigns(
    two, tmp_path, instance: DagsterInstance
):
    _drop(tmp_path, "brand_a", "spring", shots=2)
    _drop(tmp_path, "brand_b", "autumn", shots=1)
    a, b = Pipeline("brand_a"), Pipeline("brand_b")

    assert run_campaign(two, instance, "spring", pipeline=a).status == "success"
    assert run_campaign(two, instance, "autumn", pipeline=b).status == "success"
    crossed = run_campaign(two, instance, "spring", pipeline=b)
    assert crossed.status == "failure" and "nothing was dropped" in crossed.error

    assert instance.get_dynamic_partitions("brand_a_campaigns") == ["spring"]
    assert instance.get_dynamic_partitions("brand_b_campaigns") == ["autumn"]
    for pipeline, campaign in ((a, "spring"), (b, "autumn")):
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=pipeline.asset_key("deliverable")), limit=10
        ).records
        assert [r.partition_key for r in records] == [campaign]
        runs = instance.get_run_records()
        assert {r.dagster_run.job_name for r in runs} == {ASSET_JOB}  # the job a UI launch has
    assert not instance.fetch_materializations(AssetKey("deliverable"), limit=1).records
    # each store holds its own campaign's records and deliverables, nothing of the other's
    for brand, own, other in (("brand_a", "spring", "autumn"), ("brand_b", "autumn", "spring")):
        store = tmp_path / brand / "store"
        assert (store / "records" / "deliverable" / f"{own}.json").is_file()
        assert not list(store.rglob(f"*{other}*"))
