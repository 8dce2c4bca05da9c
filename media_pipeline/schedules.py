"""``nightly_campaign_refresh``: at 02:00, re-run every campaign whose deliverable is missing or stale.

Stale means a file in the campaign's drop is newer than the set the campaign's pointer names
(``deliverables/<campaign>/current.json``); missing means no pointer, so a set that was never switched in
(a run killed while publishing) counts as missing. Dynamic partitions do not work with
``build_schedule_from_partitioned_job``, so this schedule yields one ``RunRequest`` per campaign that needs
work and nothing for campaigns that are up to date. Re-runs are cheap: clips already made are cache hits.
"""

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from .assets._common import with_resource_keys
from .partitions import ASSET_JOB, Pipeline
from .resources.drops import DropZone
from .resources.publish import current_deliverable
from .resources.store import MediaStore


def last_delivered(store: MediaStore, campaign: str) -> float | None:
    """When the campaign's current set was published (epoch seconds), or None when there is none."""
    current = current_deliverable(store, campaign)
    return current.published_at.timestamp() if current and current.published_at else None


def refresh_requests(
    context: ScheduleEvaluationContext, drops: DropZone, store: MediaStore, pipeline: Pipeline
) -> list[RunRequest] | SkipReason:
    """One run request per registered campaign whose deliverable is missing or older than its drop."""
    requests = []
    dropped = drops.list_campaigns()  # one listing of the drop zone, not one per campaign
    for campaign in context.instance.get_dynamic_partitions(pipeline.partitions.name):
        files = dropped.get(campaign)
        if not files:
            continue
        delivered = last_delivered(store, campaign)
        if delivered is None or delivered < max(f.mtime for f in files):
            requests.append(pipeline.run_request(campaign, {"media_pipeline/trigger": "nightly"}))
    return requests or SkipReason("every campaign's deliverable is up to date")


def build_nightly_campaign_refresh(
    pipeline: Pipeline, default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED
) -> ScheduleDefinition:
    """The pipeline's ``nightly_campaign_refresh``, requesting its campaigns' runs."""

    def nightly_campaign_refresh(context: ScheduleEvaluationContext, drops: DropZone, store: MediaStore):
        return refresh_requests(context, drops, store, pipeline)

    return schedule(
        name=pipeline.named("nightly_campaign_refresh"),
        cron_schedule="0 2 * * *",
        job_name=ASSET_JOB,
        execution_timezone="UTC",
        description=__doc__.split("\n\n")[0],
        default_status=default_status,
    )(with_resource_keys(nightly_campaign_refresh, pipeline))


nightly_campaign_refresh = build_nightly_campaign_refresh(Pipeline())
"""The project's own pipeline's schedule."""
