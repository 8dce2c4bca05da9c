"""``nightly_campaign_refresh``: at 02:00, re-run every campaign whose deliverable is missing or stale.

Stale means a file in the campaign's drop is newer than the set the campaign's pointer names
(``deliverables/<campaign>/current.json``); missing means no pointer, so a set that was never switched in
(a run killed while publishing) counts as missing. Dynamic partitions do not work with
``build_schedule_from_partitioned_job``, so this schedule yields one ``RunRequest`` per campaign that needs
work and nothing for campaigns that are up to date. Re-runs are cheap: clips already made are cache hits.
"""

from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from .jobs import campaign_job
from .partitions import campaign_partitions
from .resources.drops import DropZone
from .resources.publish import current_deliverable
from .resources.storage import MediaStore


def last_delivered(store: MediaStore, campaign: str) -> float | None:
    """When the campaign's current set was published (epoch seconds), or None when there is none."""
    current = current_deliverable(store, campaign)
    return current.published_at.timestamp() if current and current.published_at else None


@schedule(cron_schedule="0 2 * * *", job=campaign_job, execution_timezone="UTC", description=__doc__.split("\n\n")[0])
def nightly_campaign_refresh(context: ScheduleEvaluationContext, drops: DropZone, store: MediaStore):
    """One run request per registered campaign whose deliverable is missing or older than its drop."""
    requests = []
    dropped = drops.list_campaigns()  # one listing of the drop zone, not one per campaign
    for campaign in context.instance.get_dynamic_partitions(campaign_partitions.name):
        files = dropped.get(campaign)
        if not files:
            continue
        delivered = last_delivered(store, campaign)
        if delivered is None or delivered < max(f.mtime for f in files):
            requests.append(RunRequest(partition_key=campaign, tags={"media_pipeline/trigger": "nightly"}))
    return requests or SkipReason("every campaign's deliverable is up to date")
