"""What ``media-pipeline approve`` and ``media-pipeline review`` run, for the CLI and for scripts.

``approve_campaign`` runs the pipeline's ``approve_deliverable`` job for one campaign partition on the instance at
``DAGSTER_HOME``, so the approval shows in the UI like one launched from the Launchpad (its run, the
``deliverable`` materialization of the published set, the ``deliverable_approved`` check). A refusal (no draft, a
stale one, another version than the one named) is the summary's ``error``, said once and naming the campaign.
"""

from collections.abc import Mapping

from dagster import DagsterInstance, Definitions
from pydantic import BaseModel

from .campaign import CampaignError, check_campaign_id
from .partitions import PROJECT_PIPELINE, Pipeline
from .resources.publish import current_deliverable, draft_set, stable_key
from .resources.review import no_draft, read_approval
from .resources.store import MediaStore
from .runner import cause_message


class ApprovalSummary(BaseModel):
    """One campaign's line of ``media-pipeline approve --json``: what was approved and published, or why not."""

    campaign: str
    status: str  # approved | failure
    run_id: str | None = None
    version: str | None = None
    clips: dict[str, str] = {}  # shot -> clip cache key, as the approval names them
    approved_by: str = ""
    spec_sha256: str | None = None
    deliverables: list[str] = []
    error: str | None = None


class ApprovalsSummary(BaseModel):
    """The one object ``media-pipeline approve --json`` prints, for one campaign or several."""

    status: str  # success when every campaign was approved
    approvals: list[ApprovalSummary]
    error: str | None = None


def approve_campaign(
    defs: Definitions,
    instance: DagsterInstance,
    campaign: str,
    version: str = "",
    approved_by: str = "",
    pipeline: Pipeline = PROJECT_PIPELINE,
    tags: Mapping[str, str] | None = None,
) -> ApprovalSummary:
    """Approve ``campaign``'s draft (``version``: the one the reviewer previewed) through the approval job."""
    try:
        check_campaign_id(campaign)
    except CampaignError as exc:
        return ApprovalSummary(campaign=campaign, status="failure", error=str(exc))
    store: MediaStore = defs.resources[pipeline.resource_key("store")]
    if draft_set(store, campaign) is None:  # nothing to approve (approved already?): refused before any run
        return ApprovalSummary(campaign=campaign, status="failure", error=str(no_draft(store, campaign)))
    if not instance.has_dynamic_partition(pipeline.partitions.name, campaign):
        instance.add_dynamic_partitions(pipeline.partitions.name, [campaign])  # drafted on another instance
    result = defs.get_job_def(pipeline.named("approve_deliverable")).execute_in_process(
        partition_key=campaign,
        instance=instance,
        raise_on_error=False,
        tags=tags,
        run_config={
            "ops": {pipeline.named("approve_draft"): {"config": {"version": version, "approved_by": approved_by}}},
            "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
        },
    )
    if not result.success:
        errors = [cause_message(e.event_specific_data.error) for e in result.get_step_failure_events()]
        return ApprovalSummary(
            campaign=campaign, status="failure", run_id=result.run_id, error="\n".join(errors) or "the run failed"
        )
    approval, current = read_approval(store, campaign), current_deliverable(store, campaign)
    assert approval is not None and current is not None  # the job succeeded: both were just written
    return ApprovalSummary(
        campaign=campaign,
        status="approved",
        run_id=result.run_id,
        version=approval.version,
        approved_by=approval.approved_by,
        clips=approval.clips,
        spec_sha256=approval.spec_sha256,
        deliverables=[store.stable_uri(stable_key(campaign, key)) for key in current.keys],
    )


def approve_campaigns(
    defs: Definitions, instance: DagsterInstance, campaigns: list[str], version: str = "", approved_by: str = ""
) -> ApprovalsSummary:
    """Approve each campaign on its own (a catalog's SKUs, say); one refusal does not stop the others."""
    approvals = [approve_campaign(defs, instance, campaign, version, approved_by) for campaign in campaigns]
    failed = [a.error for a in approvals if a.error]
    return ApprovalsSummary(
        status="failure" if failed else "success", approvals=approvals, error="\n".join(failed) or None
    )
