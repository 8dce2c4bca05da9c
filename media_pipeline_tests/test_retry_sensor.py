"""missed_retry_sensor on a real instance with run retries on (max 2, as deploy/dagster.yaml): runs are created for
the pipeline's asset job and failed the way the code server fails them (``report_run_failed``, which makes Dagster
set ``dagster/will_retry``); Dagster 1.13's race is reproduced with its own retry daemon; the sensor relaunches a
run only when that daemon missed it, once, within Dagster's retry count. The last test runs it end to end: the
project's code location in a code server, Dagster's retry daemon missing the run, its sensor daemon ticking the
sensor and launching the relaunch, which delivers the campaign."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunsFilter,
    SensorResult,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.events import DagsterEvent
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage import tags as dagster_tags
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import EmptyWorkspaceTarget, ModuleTarget
from dagster._daemon.auto_run_reexecution import event_log_consumer
from dagster._daemon.auto_run_reexecution.event_log_consumer import EventLogConsumerDaemon
from dagster._daemon.sensor import execute_sensor_iteration

from media_pipeline import Pipeline, build_pipeline_defs
from media_pipeline.definitions import build_defs
from media_pipeline.partitions import ASSET_JOB
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.generator import LocalVideoGenerator
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.retry_sensor import (
    DAEMON_FAILURE_CURSOR,
    DEFAULT_GRACE_SECONDS,
    retry_grace_seconds,
    retry_tick,
)
from media_pipeline.settings import ConfigurationError, check_settings

from .builders import SMALL_MANIFEST, write_campaign

BRANDS = ("brand_a", "brand_b")
RETRIES = {"run_retries": {"enabled": True, "max_retries": 2}}
GRACE = DEFAULT_GRACE_SECONDS


@pytest.fixture
def retries_instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home), overrides=RETRIES) as instance:
        yield instance


@pytest.fixture
def defs(tmp_path: Path) -> Definitions:
    """Two pipelines in one code location, as test_factory: their runs share ``__ASSET_JOB``."""
    return Definitions.merge(
        *(
            build_pipeline_defs(
                name,
                drops=LocalDropZone(root=str(tmp_path / name / "drops")),
                store=LocalMediaStore(root=str(tmp_path / name / "store")),
                generator=LocalVideoGenerator(max_concurrent=1),
            )
            for name in BRANDS
        )
    )


def _started_run(
    instance: DagsterInstance, defs: Definitions, brand: str, campaign: str, tags=None, parent: DagsterRun | None = None
) -> DagsterRun:
    """A started run of ``brand``'s four assets for ``campaign``, as a sensor launches it; with ``parent``, a retry
    of it as Dagster's retry daemon makes one (parent and root run, ``dagster/retry_number``)."""
    keys = Pipeline(brand).asset_keys
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
    lineage = {}
    if parent is not None:
        root = parent.root_run_id or parent.run_id
        number = len(instance.get_run_group(parent.run_id)[1])
        lineage = {"root_run_id": root, "parent_run_id": parent.run_id}
        tags = {**(tags or {}), "dagster/root_run_id": root, "dagster/parent_run_id": parent.run_id,
                "dagster/retry_number": str(number)}  # fmt: skip
    run = instance.create_run_for_job(
        job,
        status=DagsterRunStatus.STARTED,
        tags={"dagster/partition": campaign, **(tags or {})},
        asset_selection=frozenset(keys),
        **lineage,
    )
    if parent is not None:
        instance.add_run_tags(parent.run_id, {"dagster/auto_retry_run_id": run.run_id})
    return run


def _failed_run(instance: DagsterInstance, defs: Definitions, brand: str, campaign: str, **options) -> DagsterRun:
    """A run failed from outside, as the code server fails a run whose worker died: Dagster decides will_retry."""
    run = _started_run(instance, defs, brand, campaign, **options)
    instance.report_run_failed(run, message=f"Run execution process for {run.run_id} unexpectedly exited.")
    return instance.get_run_by_id(run.run_id)


def _tick(instance: DagsterInstance, brand: str, *, after: float = GRACE + 1, cursor: str | None = None):
    """The sensor's tick ``after`` seconds from now (default: just past the grace period)."""
    with build_sensor_context(instance=instance, cursor=cursor) as context:
        result = retry_tick(context, Pipeline(brand), now=time.time() + after, grace=GRACE)
    assert isinstance(result, SensorResult)
    return result


def test_the_tags_and_the_daemon_cursor_are_dagsters():
    from media_pipeline import retry_sensor

    for ours, theirs in [
        ("WILL_RETRY", "WILL_RETRY_TAG"), ("AUTO_RETRY_RUN_ID", "AUTO_RETRY_RUN_ID_TAG"),
        ("PARENT_RUN_ID", "PARENT_RUN_ID_TAG"), ("ROOT_RUN_ID", "ROOT_RUN_ID_TAG"),
        ("RETRY_NUMBER", "RETRY_NUMBER_TAG"), ("MAX_RETRIES", "MAX_RETRIES_TAG"),
        ("PARTITION", "PARTITION_NAME_TAG"), ("BACKFILL", "BACKFILL_ID_TAG"),
    ]:  # fmt: skip
        assert getattr(retry_sensor, ours) == getattr(dagster_tags, theirs)
    assert set(retry_sensor.BACKFILL_TAGS) == set(dagster_tags.BACKFILL_TAGS)
    assert DAEMON_FAILURE_CURSOR == event_log_consumer._create_cursor_key(DagsterEventType.RUN_FAILURE)


def test_a_missed_retry_past_the_grace_period_is_relaunched_once_for_the_same_partition_and_assets(
    retries_instance, defs, capfd
):
    failed = _failed_run(retries_instance, defs, "brand_a", "spring", tags={"media_pipeline/drop": "f1"})
    assert failed.tags["dagster/will_retry"] == "true" and "dagster/auto_retry_run_id" not in failed.tags

    young = _tick(retries_instance, "brand_a", after=GRACE - 5)  # the daemon still has its chance
    assert young.run_requests == [] and f"{failed.run_id} failed" in young.skip_reason.skip_message

    capfd.readouterr()
    result = _tick(retries_instance, "brand_a")
    (request,) = result.run_requests
    assert request.partition_key == "spring"
    assert request.asset_selection == Pipeline("brand_a").asset_keys
    assert request.run_key == f"retry:{failed.run_id}"
    assert request.tags == {
        "media_pipeline/drop": "f1",  # the failed run's own tags come along, Dagster's state tags do not
        "dagster/parent_run_id": failed.run_id,
        "dagster/root_run_id": failed.run_id,
        "dagster/retry_number": "1",
        "dagster/max_retries": "1",  # 2 in all: one left after this one
    }
    assert f"relaunching run {failed.run_id} (campaign 'spring') as retry 1" in capfd.readouterr().err

    # the next tick, from the cursor, relaunches nothing; nor does one that lost its cursor once the run exists
    again = _tick(retries_instance, "brand_a", cursor=result.cursor)
    assert again.run_requests == [] and again.skip_reason is not None
    _started_run(retries_instance, defs, "brand_a", "spring", tags=request.tags)
    assert _tick(retries_instance, "brand_a").run_requests == []


def test_a_run_the_daemon_retried_or_that_will_not_retry_is_left_alone(retries_instance, defs):
    retried = _failed_run(retries_instance, defs, "brand_a", "spring")
    _started_run(retries_instance, defs, "brand_a", "spring", parent=retried)  # the daemon's retry
    assert retries_instance.get_run_by_id(retried.run_id).tags["dagster/auto_retry_run_id"]
    by_hand = _failed_run(retries_instance, defs, "brand_a", "summer")
    _started_run(retries_instance, defs, "brand_a", "summer", tags={"dagster/parent_run_id": by_hand.run_id})
    no_retry = _failed_run(retries_instance, defs, "brand_a", "autumn", tags={"dagster/max_retries": "0"})
    assert no_retry.tags["dagster/will_retry"] == "false"  # Dagster's own decision
    result = _tick(retries_instance, "brand_a")
    assert result.run_requests == [] and result.skip_reason.skip_message == "no missed retries"


def test_the_retry_count_is_dagsters_and_never_passes_max_retries(retries_instance, defs):
    first = _failed_run(retries_instance, defs, "brand_a", "spring")
    second = _failed_run(retries_instance, defs, "brand_a", "spring", parent=first)  # the daemon's retry 1, missed
    assert second.tags["dagster/will_retry"] == "true"
    (request,) = _tick(retries_instance, "brand_a").run_requests
    assert request.tags["dagster/parent_run_id"] == second.run_id
    assert request.tags["dagster/root_run_id"] == first.run_id  # it joins the group Dagster counts
    assert (request.tags["dagster/retry_number"], request.tags["dagster/max_retries"]) == ("2", "0")

    third = _failed_run(retries_instance, defs, "brand_a", "spring", parent=second)  # the daemon's retry 2
    assert third.tags["dagster/will_retry"] == "false"  # Dagster: max_retries reached
    retries_instance.add_run_tags(third.run_id, {"dagster/will_retry": "true"})  # even if it said otherwise
    assert _tick(retries_instance, "brand_a").run_requests == []

    # a relaunch that fails too: its group starts at it (a sensor cannot make a run's parent), so its max_retries
    # tag holds what was left: none here
    relaunched = _failed_run(retries_instance, defs, "brand_a", "summer", tags={
        "dagster/parent_run_id": "gone", "dagster/root_run_id": "gone", "dagster/retry_number": "2",
        "dagster/max_retries": "0"})  # fmt: skip
    assert relaunched.tags["dagster/will_retry"] == "false"
    retries_instance.add_run_tags(relaunched.run_id, {"dagster/will_retry": "true"})
    assert _tick(retries_instance, "brand_a").run_requests == []


def test_each_pipelines_sensor_relaunches_only_its_own_runs(retries_instance, defs):
    failed = _failed_run(retries_instance, defs, "brand_b", "autumn")
    assert _tick(retries_instance, "brand_a").run_requests == []
    (request,) = _tick(retries_instance, "brand_b").run_requests
    assert request.tags["dagster/parent_run_id"] == failed.run_id
    assert request.asset_selection == Pipeline("brand_b").asset_keys


def test_nothing_is_relaunched_without_run_retries_on_the_instance(instance, defs):
    failed = _failed_run(instance, defs, "brand_a", "spring")
    instance.add_run_tags(failed.run_id, {"dagster/will_retry": "true"})
    result = _tick(instance, "brand_a")
    assert result.run_requests == [] and "run retries are off" in result.skip_reason.skip_message


def test_a_failure_the_daemon_has_not_read_yet_is_left_to_it(retries_instance, defs):
    before = retries_instance.event_log_storage.get_maximum_record_id() or 0
    retries_instance.daemon_cursor_storage.set_cursor_values({DAEMON_FAILURE_CURSOR: str(before)})
    failed = _failed_run(retries_instance, defs, "brand_a", "spring")
    result = _tick(retries_instance, "brand_a", after=10 * GRACE)  # a daemon that is late, not one that missed
    assert result.run_requests == [] and "retry daemon's to read" in result.skip_reason.skip_message
    read = retries_instance.event_log_storage.get_maximum_record_id()
    retries_instance.daemon_cursor_storage.set_cursor_values({DAEMON_FAILURE_CURSOR: str(read)})
    (request,) = _tick(retries_instance, "brand_a").run_requests
    assert request.tags["dagster/parent_run_id"] == failed.run_id


def _fail_in_the_race(instance: DagsterInstance, daemon: EventLogConsumerDaemon, workspace, run: DagsterRun) -> None:
    """Fail ``run`` as the code server does when its worker dies, in its three writes, with the retry daemon's poll
    between the first two: the RUN_FAILURE event, (the poll: the run is still STARTED), the FAILURE status, then
    ``dagster/will_retry`` as Dagster decides it."""
    failure = DagsterEvent(DagsterEventType.RUN_FAILURE.value, job_name=ASSET_JOB, message="worker died")
    entry = EventLogEntry(error_info=None, level=logging.ERROR, user_message="", run_id=run.run_id,
                          timestamp=time.time(), dagster_event=failure)  # fmt: skip
    instance.event_log_storage.store_event(entry)
    list(daemon.run_iteration(workspace))
    instance.run_storage.handle_run_event(run.run_id, failure, datetime.now(UTC))
    failed = instance.get_run_by_id(run.run_id)
    will_retry = str(auto_reexecution_should_retry_run(instance, failed, None)).lower()
    instance.add_run_tags(run.run_id, {"dagster/will_retry": will_retry})
    list(daemon.run_iteration(workspace))  # later polls never see the run again
    missed = instance.get_run_by_id(run.run_id)
    assert missed.status == DagsterRunStatus.FAILURE and missed.tags["dagster/will_retry"] == "true"
    assert "dagster/auto_retry_run_id" not in missed.tags and not instance.get_runs(RunsFilter(
        tags={"dagster/parent_run_id": run.run_id}))  # fmt: skip


def test_dagsters_race_reproduced_with_its_own_daemon_is_caught(retries_instance, defs):
    """The daemon never retries the run; the sensor does, after the grace period."""
    daemon = EventLogConsumerDaemon()
    with create_test_daemon_workspace_context(EmptyWorkspaceTarget(), retries_instance) as workspace:
        list(daemon.run_iteration(workspace))  # the daemon is up: its cursor is at the end of the event log
        run = _started_run(retries_instance, defs, "brand_a", "spring")
        _fail_in_the_race(retries_instance, daemon, workspace, run)
        assert len(retries_instance.get_runs()) == 1
        assert _tick(retries_instance, "brand_a", after=GRACE - 5).run_requests == []
        (request,) = _tick(retries_instance, "brand_a").run_requests
        assert request.partition_key == "spring" and request.tags["dagster/parent_run_id"] == run.run_id


@pytest.mark.slow
def test_end_to_end_the_sensor_daemon_launches_the_relaunch_once_and_it_delivers(tmp_path, monkeypatch):
    """The project's own location in a code server, as the daemons see it; runs launch at once (no queue)."""
    pipeline_home = tmp_path / "pipeline_home"
    monkeypatch.setenv("MEDIA_PIPELINE_HOME", str(pipeline_home))  # the code server and run workers inherit these
    monkeypatch.setenv("MEDIA_PIPELINE_GENERATOR", "local")
    monkeypatch.setenv("MEDIA_PIPELINE_RETRY_GRACE_SECONDS", "0")
    write_campaign(pipeline_home / "drops", "spring", shots=1, manifest=SMALL_MANIFEST, size=(160, 90))
    own = build_defs()
    launch_at_once = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}
    home = tmp_path / "dagster_home"
    home.mkdir()
    root = str(Path(__file__).parents[1])
    location = ModuleTarget("media_pipeline.definitions", None, working_directory=root, location_name="media_pipeline")
    with (
        instance_for_test(temp_dir=str(home), overrides={**RETRIES, "run_coordinator": launch_at_once}) as instance,
        create_test_daemon_workspace_context(location, instance) as workspace,
    ):
        instance.add_dynamic_partitions("campaigns", ["spring"])
        daemon = EventLogConsumerDaemon()
        list(daemon.run_iteration(workspace))
        run = _started_run(instance, own, "", "spring")
        _fail_in_the_race(instance, daemon, workspace, run)

        sensor_daemon = logging.getLogger("sensor daemon")
        list(execute_sensor_iteration(workspace, sensor_daemon, None, None))  # the sensor is running by default
        (relaunch,) = instance.get_runs(RunsFilter(tags={"dagster/parent_run_id": run.run_id}))
        assert relaunch.tags["dagster/sensor_name"] == "missed_retry_sensor"
        assert (relaunch.tags["dagster/partition"], relaunch.tags["dagster/retry_number"]) == ("spring", "1")
        assert relaunch.asset_selection == frozenset(Pipeline().asset_keys)
        deadline = time.monotonic() + 120
        while not instance.get_run_by_id(relaunch.run_id).is_finished and time.monotonic() < deadline:
            time.sleep(0.5)
        assert instance.get_run_by_id(relaunch.run_id).status == DagsterRunStatus.SUCCESS
        assert (pipeline_home / "store" / "deliverables" / "spring" / "spring.mp4").is_file()

        list(execute_sensor_iteration(workspace, sensor_daemon, None, None))
        list(daemon.run_iteration(workspace))
        assert len(instance.get_runs()) == 2  # relaunched once, and the daemon did not retry it as well


def test_the_grace_period_setting(monkeypatch):
    assert retry_grace_seconds({}) == 60.0
    assert retry_grace_seconds({"MEDIA_PIPELINE_RETRY_GRACE_SECONDS": "15"}) == 15.0
    with pytest.raises(ConfigurationError, match="MEDIA_PIPELINE_RETRY_GRACE_SECONDS"):
        check_settings({"MEDIA_PIPELINE_RETRY_GRACE_SECONDS": "-1"})
    monkeypatch.setenv("MEDIA_PIPELINE_RETRY_GRACE_SECONDS", "5")
    assert retry_grace_seconds() == 5.0


def test_a_run_of_a_backfill_is_relaunched_only_while_its_backfill_runs_and_stays_in_it(retries_instance, defs):
    """As Dagster's daemon: a run of a backfill that finished or is gone is not retried; one of a running backfill
    is, and its relaunch carries the backfill's tags (the backfill counts it, the queue's backfill limit holds)."""
    pipeline = Pipeline("brand_a")
    retries_instance.add_dynamic_partitions(pipeline.partitions.name, ["spring", "summer", "autumn"])
    for backfill_id, status in (("live", BulkActionStatus.REQUESTED), ("done", BulkActionStatus.COMPLETED_SUCCESS)):
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id, asset_graph=defs.resolve_asset_graph(), partition_names=["spring"],
            asset_selection=pipeline.asset_keys, backfill_timestamp=time.time(), tags={},
            dynamic_partitions_store=retries_instance, all_partitions=False, title=None, description=None,
            run_config=None,
        )  # fmt: skip
        retries_instance.add_backfill(backfill.with_status(status))
    runs = {
        backfill_id: _failed_run(retries_instance, defs, "brand_a", campaign, tags={"dagster/backfill": backfill_id})
        for backfill_id, campaign in (("live", "spring"), ("done", "summer"), ("gone", "autumn"))
    }
    for run in runs.values():  # whatever Dagster decided when they failed, the sensor applies the rule itself
        retries_instance.add_run_tags(run.run_id, {"dagster/will_retry": "true"})
    (request,) = _tick(retries_instance, "brand_a").run_requests
    assert request.tags["dagster/parent_run_id"] == runs["live"].run_id
    assert request.tags["dagster/backfill"] == "live" and request.partition_key == "spring"
