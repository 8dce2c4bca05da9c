"""``nightly_campaign_refresh``: at 02:00, re-run every campaign whose deliverable is missing or stale.

Stale means a file in the campaign's drop is newer than the deliverable's last materialization. Dynamic partitions
do not work with ``build_schedule_from_partitioned_job``, so this schedule yields one ``RunRequest`` per campaign that
needs work and nothing for campaigns that are up to date. Re-runs are cheap: clips already made are cache hits.
"""


from dagster import AssetKey, AssetRecordsFilter, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from .jobs import campaign_job
from .partitions import campaign_partitions
from .resources.drops import DropZone


def last_delivered(context: ScheduleEvaluationContext, campaign: str) -> float | None:
    """When the campaign's deliverable was last materialized (epoch seconds), or None."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("deliverable"), asset_partitions=[campaign]), limit=1
    ).records
    return records[0].timestamp if records else None


@schedule(cron_schedule="0 2 * * *", job=campaign_job, execution_timezone="UTC", description=__doc__.split("\n\n")[0])
def nightly_campaign_refresh(context: ScheduleEvaluationContext, drops: DropZone):
    """One run request per registered campaign whose deliverable is missing or older than its drop."""
    requests = []
    dropped = drops.list_campaigns()  # one listing of the drop zone, not one per campaign
    for campaign in context.instance.get_dynamic_partitions(campaign_partitions.name):
        files = dropped.get(campaign)
        if not files:
            continue
        delivered = last_delivered(context, campaign)
        if delivered is None or delivered < max(f.mtime for f in files):
            requests.append(RunRequest(partition_key=campaign, tags={"media_pipeline/trigger": "nightly"}))
    return requests or SkipReason("every campaign's deliverable is up to date")
