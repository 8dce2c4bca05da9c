"""``xai_batch_sensor``: request a campaign's run when its open xAI batch has results to take.

A batch may take hours, so no step waits for it: ``generated_clips`` sends the batch, takes what is finished and
ends (see ``assets/batch_clips.py``). Every minute this sensor reads the batch journals in the store (a closed one
is remembered in the cursor and not read again), asks xAI for
each open batch's counts (``GetBatch``: one call per open batch) and requests the campaign's run when more of its
requests have finished than the journal has taken (their URLs live an hour, so results are taken as they come,
not when the whole batch is done), or when a run died while adding to a batch. The ``run_key`` is the batch and
its finished count, so one set of results runs once; a campaign with a run queued or in progress is left to it.
"""

from __future__ import annotations

import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from .assets._common import with_resource_keys
from .partitions import ASSET_JOB, Pipeline
from .resources.generator import ShotFailed, VideoGenerator
from .resources.store import MediaStore
from .resources.xai.batch import XaiBatches
from .resources.xai.batch_journal import batch_keys, read_batch
from .resources.xai.generator import XaiVideoGenerator

IN_PROGRESS = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED]  # fmt: skip


def batch_tick(
    context: SensorEvaluationContext, store: MediaStore, generator: VideoGenerator, pipeline: Pipeline
) -> SensorResult:
    """One tick: a run request per campaign whose open batch has results the journal has not taken."""
    if not isinstance(generator, XaiVideoGenerator):
        return SensorResult(skip_reason="the generator is not xAI: no batches")
    closed = set(json.loads(context.cursor)) if context.cursor else set()  # journals never read again
    runs: dict[str, RunRequest] = {}
    waiting: list[str] = []
    keys = batch_keys(store)
    for key in keys:
        entry = None if key in closed else read_batch(store, key)
        if entry is None or entry.status == "closed":
            closed.update([key] if entry is not None else [])
            continue
        if entry.campaign in runs:
            continue
        if entry.status == "adding":  # a run died while adding: the next run reconciles the batch
            ready = "adding"
        else:
            try:
                state = XaiBatches(generator, store, entry.campaign, context.log).state(entry.batch_id).state
            except ShotFailed as exc:
                context.log.warning(f"campaign {entry.campaign!r}: cannot read xAI batch {entry.batch_id}: {exc}")
                continue
            finished = state.num_success + state.num_error + state.num_cancelled
            taken = sum(1 for r in entry.requests.values() if r.status != "pending")
            if finished <= taken:
                waiting.append(f"{entry.campaign} ({state.num_pending} pending)")
                continue
            ready = str(finished)
        if _run_in_progress(context, entry.campaign):
            continue
        runs[entry.campaign] = pipeline.run_request(
            entry.campaign, {"media_pipeline/batch": entry.batch_id}, run_key=f"{entry.batch_id}:{ready}"
        )
    cursor = json.dumps(sorted(closed & set(keys)))
    if not runs:
        pending = f"; waiting: {', '.join(waiting)}" if waiting else ""
        return SensorResult(skip_reason=f"no batch results to take{pending}", cursor=cursor)
    return SensorResult(run_requests=list(runs.values()), cursor=cursor)


def _run_in_progress(context: SensorEvaluationContext, campaign: str) -> bool:
    runs = context.instance.get_runs(
        filters=RunsFilter(statuses=IN_PROGRESS, tags={"dagster/partition": campaign}), limit=1
    )
    return bool(runs)


def build_batch_sensor(
    pipeline: Pipeline, default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED
) -> SensorDefinition:
    """The pipeline's ``xai_batch_sensor``, requesting its campaigns' runs."""

    def xai_batch_sensor(context: SensorEvaluationContext, store: MediaStore, generator: VideoGenerator):
        return batch_tick(context, store, generator, pipeline)

    return sensor(
        name=pipeline.named("xai_batch_sensor"),
        job_name=ASSET_JOB,
        minimum_interval_seconds=60,
        description=__doc__.split("\n\n")[0],
        default_status=default_status,
    )(with_resource_keys(xai_batch_sensor, pipeline))
