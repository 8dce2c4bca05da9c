"""``missed_retry_sensor``: relaunch a crashed run whose automatic retry Dagster 1.13 missed.

With run retries on (``deploy/dagster.yaml``), the process that fails a run stores its RUN_FAILURE event, then writes
the run's FAILURE status and ``dagster/will_retry=true``. The retry daemon reads new RUN_FAILURE events every 5 s and
retries the runs that are failed and will retry; when its poll falls between the event and the status, it sees a
run still started, skips it and moves its cursor past the event for good. Such a run keeps ``will_retry=true``
without ``dagster/auto_retry_run_id``, and no retry ever comes.

Every 30 s this sensor looks at the failed runs of its pipeline (``__ASSET_JOB`` runs selecting only its assets,
ended in the last day) that carry ``dagster/will_retry=true`` and relaunches each one for which all of these hold:
it ended more than ``MEDIA_PIPELINE_RETRY_GRACE_SECONDS`` ago (default 60); it has no ``auto_retry_run_id`` and
no child run (``dagster/parent_run_id`` is it: a retry by the daemon, by hand, or by this sensor); the daemon has
already read its RUN_FAILURE event (its persisted cursor is past it, or it never ran and so will never read it),
so the daemon neither retried it nor will; and Dagster's own count still allows a retry (the run's group, the
retries launched from its root, is at most ``dagster/max_retries`` or the instance's ``max_retries``, and the run
is not part of a finished backfill). Nothing happens unless the instance has run retries on.

A sensor cannot re-execute a run from failure in 1.13: a ``RunRequest`` has no parent run or known state, and
the sensor daemon always creates a fresh run (all steps, no parent). So the relaunch is a ``RunRequest`` for the
failed run's partition and asset selection (and asset checks); it costs nothing twice, since ``source_images``
and ``hosted_images`` find their records, ``generated_clips`` adopts the journaled requests and the dead holder's
claims, and ``deliverable`` reuses its cache. It keeps the failed run's own tags and is tagged like the daemon's
retry: ``dagster/parent_run_id`` and ``dagster/root_run_id`` (it joins the run group Dagster counts),
``dagster/retry_number`` (the failed run's + 1) and ``dagster/max_retries`` set to the retries left, so if it
crashes too, Dagster's count (which starts a new group at a run made by a sensor) never goes past the instance's
``max_retries`` in all. Its ``run_key`` is ``retry:<failed run id>`` and the cursor remembers the failed runs it
relaunched, so one failed run is relaunched at most once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRecord,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from .partitions import ASSET_JOB, Pipeline
from .settings import number

DEFAULT_GRACE_SECONDS = 60.0
LOOKBACK_SECONDS = 24 * 3600
"""Failed runs older than this are left alone (turning the sensor on never relaunches last week's runs)."""
PENDING_FETCH_LIMIT = 1000
"""The most unread RUN_FAILURE events read to know what the daemon still has to do; past it, the tick waits."""

# Dagster 1.13's run tags (dagster._core.storage.tags), checked against it by the tests
WILL_RETRY = "dagster/will_retry"
AUTO_RETRY_RUN_ID = "dagster/auto_retry_run_id"
PARENT_RUN_ID = "dagster/parent_run_id"
ROOT_RUN_ID = "dagster/root_run_id"
RETRY_NUMBER = "dagster/retry_number"
MAX_RETRIES = "dagster/max_retries"
PARTITION = "dagster/partition"
BACKFILL = "dagster/backfill"
BACKFILL_TAGS = (BACKFILL, "dagster/parent_backfill_id", "dagster/root_backfill_id")
DAEMON_FAILURE_CURSOR = f"EVENT_LOG_CONSUMER_CURSOR-{DagsterEventType.RUN_FAILURE.value}"
"""Where the retry daemon (``EventLogConsumerDaemon``) persists the last RUN_FAILURE event it handled."""


def retry_grace_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """How long after a run failed the sensor leaves it to Dagster's retry daemon
    (``MEDIA_PIPELINE_RETRY_GRACE_SECONDS``, default 60)."""
    return number(environ, "MEDIA_PIPELINE_RETRY_GRACE_SECONDS", DEFAULT_GRACE_SECONDS, float, 0.0)


@dataclass(frozen=True)
class MissedRetry:
    """A failed run to relaunch: its retry number and the retries left after it."""

    run: DagsterRun
    retry_number: int
    retries_left: int

    def run_request(self, pipeline: Pipeline) -> RunRequest:
        """The relaunch: the failed run's partition, assets (in pipeline order) and checks, its own tags and the
        retry's."""
        run = self.run
        own = {k: v for k, v in run.tags.items() if not k.startswith(("dagster/", ".dagster"))}
        backfill = {k: run.tags[k] for k in BACKFILL_TAGS if k in run.tags}
        return RunRequest(
            run_key=f"retry:{run.run_id}",
            partition_key=run.tags[PARTITION],
            asset_selection=[key for key in pipeline.asset_keys if key in (run.asset_selection or ())],
            asset_check_keys=(
                None if run.asset_check_selection is None else sorted(run.asset_check_selection, key=str)
            ),
            tags={
                **own,
                **backfill,
                PARENT_RUN_ID: run.run_id,
                ROOT_RUN_ID: run.root_run_id or run.run_id,
                RETRY_NUMBER: str(self.retry_number),
                MAX_RETRIES: str(self.retries_left),
            },
        )


def is_pipeline_run(run: DagsterRun, pipeline: Pipeline) -> bool:
    """A run of this pipeline's campaigns: ``__ASSET_JOB`` over some of its assets, for one partition."""
    selection = run.asset_selection
    return (
        run.job_name == ASSET_JOB
        and bool(selection)
        and selection <= set(pipeline.asset_keys)
        and PARTITION in run.tags
    )


def failures_the_daemon_has_not_read(instance: DagsterInstance) -> set[str] | None:
    """The runs whose RUN_FAILURE event the retry daemon has yet to handle, read with its own cursor and query;
    ``None`` when there are too many to read (the daemon is far behind: leave everything to it). A daemon that never
    ran starts past every event there is, so then there is none."""
    raw = instance.daemon_cursor_storage.get_cursor_values({DAEMON_FAILURE_CURSOR}).get(DAEMON_FAILURE_CURSOR)
    if raw is None:
        return set()
    events = instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=int(raw), dagster_event_type=DagsterEventType.RUN_FAILURE, limit=PENDING_FETCH_LIMIT
    )
    if len(events) >= PENDING_FETCH_LIMIT:
        return None
    return {event.run_id for event in events.values()}


def _retries_so_far(instance: DagsterInstance, run: DagsterRun) -> int | None:
    """As Dagster counts them: the runs in the run's group but the first (``None``: a run of the group is gone)."""
    try:
        group = instance.get_run_group(run.run_id)
    except Exception:  # DagsterRunNotFoundError: the run or its root was deleted
        return None
    return 0 if group is None else len(list(group[1])) - 1


def _backfill_allows(instance: DagsterInstance, run: DagsterRun) -> bool:
    """As the daemon: a run of a backfill that is gone or finished is not retried."""
    backfill_id = run.tags.get(BACKFILL)
    if backfill_id is None:
        return True
    backfill = instance.get_backfill(backfill_id)
    return backfill is not None and backfill.status.value == "REQUESTED"


def missed_retry(instance: DagsterInstance, record: RunRecord, now: float, grace: float) -> MissedRetry | str | None:
    """The relaunch ``record``'s run is owed, a reason to wait (a string), or ``None``: it is owed nothing."""
    run = record.dagster_run
    if run.status != DagsterRunStatus.FAILURE or run.tags.get(WILL_RETRY) != "true" or AUTO_RETRY_RUN_ID in run.tags:
        return None
    ended = record.end_time or record.update_timestamp.timestamp()
    if now - ended < grace:
        return f"{run.run_id} failed {now - ended:.0f} s ago (grace {grace:.0f} s)"
    if instance.get_runs(RunsFilter(tags={PARENT_RUN_ID: run.run_id}), limit=1):
        return None  # retried already: by the daemon, by hand, or by this sensor
    retries = _retries_so_far(instance, run)
    raw_max = run.tags.get(MAX_RETRIES)
    most = instance.run_retries_max_retries if raw_max is None else int(raw_max) if raw_max.isdigit() else 0
    if retries is None or retries >= most or not _backfill_allows(instance, run):
        return None
    number_ = run.tags.get(RETRY_NUMBER, "0")
    retry_number = (int(number_) if number_.isdigit() else retries) + 1  # as the daemon numbers its retries
    return MissedRetry(run, retry_number=retry_number, retries_left=most - retries - 1)


def _load_cursor(cursor: str | None) -> dict[str, float]:
    return json.loads(cursor) if cursor else {}


def retry_tick(
    context: SensorEvaluationContext, pipeline: Pipeline, now: float | None = None, grace: float | None = None
) -> SensorResult:
    """One tick: a run request per failed run of ``pipeline`` whose retry the daemon missed (see the module)."""
    instance = context.instance
    now = time.time() if now is None else now
    grace = retry_grace_seconds() if grace is None else grace
    relaunched = {run_id: at for run_id, at in _load_cursor(context.cursor).items() if at > now - LOOKBACK_SECONDS}
    cursor = json.dumps(relaunched, sort_keys=True)
    if not instance.run_retries_enabled:
        return SensorResult(skip_reason="run retries are off on this instance", cursor=cursor)
    records = instance.get_run_records(
        RunsFilter(
            job_name=ASSET_JOB,
            statuses=[DagsterRunStatus.FAILURE],
            tags={WILL_RETRY: "true"},
            updated_after=datetime.fromtimestamp(now - LOOKBACK_SECONDS, tz=UTC),
        )
    )
    candidates = [
        r
        for r in records
        if r.dagster_run.run_id not in relaunched
        and AUTO_RETRY_RUN_ID not in r.dagster_run.tags
        and is_pipeline_run(r.dagster_run, pipeline)
    ]
    unread = failures_the_daemon_has_not_read(instance) if candidates else set()
    if unread is None:
        return SensorResult(skip_reason="the retry daemon has many failures to read: left to it", cursor=cursor)
    requests: list[RunRequest] = []
    waiting: list[str] = []
    for record in candidates:
        run = record.dagster_run
        if run.run_id in unread:
            waiting.append(f"{run.run_id} is still the retry daemon's to read")
            continue
        found = missed_retry(instance, record, now, grace)
        if isinstance(found, str):
            waiting.append(found)
        elif found is not None:
            context.log.warning(
                f"relaunching run {run.run_id} (campaign {run.tags[PARTITION]!r}) as retry {found.retry_number}: "
                f"it failed with dagster/will_retry=true {now - (record.end_time or now):.0f} s ago, and Dagster's "
                "retry daemon read its failure without retrying it (the Dagster 1.13 race)"
            )
            requests.append(found.run_request(pipeline))
            relaunched[run.run_id] = now
    cursor = json.dumps(relaunched, sort_keys=True)
    if not requests:
        wait = f"; waiting: {', '.join(waiting[:10])}" if waiting else ""
        return SensorResult(skip_reason=f"no missed retries{wait}", cursor=cursor)
    return SensorResult(run_requests=requests, cursor=cursor)


def build_missed_retry_sensor(
    pipeline: Pipeline,
    grace: float | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
) -> SensorDefinition:
    """The pipeline's ``missed_retry_sensor``; ``grace=None`` reads ``MEDIA_PIPELINE_RETRY_GRACE_SECONDS`` each
    tick. Running by default: it requests nothing unless run retries are on and the daemon missed one."""

    def missed_retry_sensor(context: SensorEvaluationContext) -> SensorResult:
        return retry_tick(context, pipeline, grace=grace)

    return sensor(
        name=pipeline.named("missed_retry_sensor"),
        job_name=ASSET_JOB,
        minimum_interval_seconds=30,
        description=__doc__.split("\n\n")[0],
        default_status=default_status,
    )(missed_retry_sensor)
