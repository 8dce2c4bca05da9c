"""The review gate in Dagster: the ``deliverable_approved`` check, the deliverable step's gate, the approval job.

Under ``review: required`` the ``deliverable`` step makes a draft (``resources.review``) and says so: the check
``deliverable_approved`` warns "awaiting approval" on that campaign, and the metadata's ``path`` is the draft's own
master (with the usual inline poster and contact sheet), ``review`` its status. Approving is the job
``approve_deliverable`` (``<pipeline>_approve_deliverable``), partitioned by campaign and launched from the UI's
Launchpad or by ``media-pipeline approve``: it switches the pointer, then reports the published set as a
``deliverable`` materialization and the check as passed. It is a job of its own and no asset, so nothing that
materializes assets (a sensor, the schedule, "Materialize all", a backfill) can approve anything by itself.
"""

from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetMaterialization,
    Config,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    job,
    op,
)
from pydantic import Field

from .campaign import Campaign
from .checks import partitioned_check_spec
from .media.ffmpeg import ffmpeg_runs
from .partitions import Pipeline
from .records import Deliverable, ShotClip
from .resources.publish import draft_key, draft_set, pointer_key, stable_key
from .resources.review import (
    Approval,
    ReviewError,
    ReviewState,
    approve,
    read_approval,
    review_key,
    settle_review,
)
from .resources.store import MediaStore, StoreError

DELIVERABLE_APPROVED = partitioned_check_spec(
    "deliverable_approved",
    asset="deliverable",
    description="The published set is the one approved (review: required); warns while a draft awaits approval.",
)


def _approval_metadata(approval: Approval | None) -> dict[str, Any]:
    if approval is None:
        return {}
    named = {"version": approval.version, "clips": approval.clips, "spec_sha256": approval.spec_sha256}
    when = {"approved_at": approval.approved_at.isoformat(), "approved_by": approval.approved_by}
    return {"approval": MetadataValue.json({**named, **when})}


def review_check(campaign: str, state: ReviewState) -> dict[str, Any]:
    """The ``deliverable_approved`` verdict on ``state``: the arguments of a check result or evaluation."""
    return {
        "check_name": DELIVERABLE_APPROVED.name,
        "passed": state.published,
        "severity": AssetCheckSeverity.WARN,
        "description": state.detail,
        "metadata": {"campaign": campaign, "review": state.status, "version": state.version},
    }


def review_metadata(store: MediaStore, campaign: str, record: Deliverable, state: ReviewState) -> dict[str, Any]:
    """Where to see the set (its stable names once published, the draft's own files before) and its review."""
    if state.published:
        path, pointer = stable_key(campaign, record.master_key), pointer_key(campaign)
    else:
        path, pointer = record.master_key, draft_key(campaign)
    return {
        "path": MetadataValue.path(store.uri(path)),
        "pointer": MetadataValue.path(store.uri(pointer)),
        "review": state.status,
        "review_detail": state.detail,
        **_approval_metadata(state.approval),
    }


class ReviewGate:
    """What the ``deliverable`` step asks of the review gate; without ``review: required`` it publishes as always."""

    def __init__(self, store: MediaStore, campaign: Campaign, delivered: list[ShotClip]) -> None:
        self.store, self.campaign = store, campaign.campaign_id
        required = campaign.manifest.review == "required"
        self.made_from = review_key(campaign.manifest, delivered) if required else None

    def reusable(self, current: Deliverable | None, inputs: str) -> Deliverable | None:
        """The set to take as it is: ``current`` (the published set made from the same inputs) unless its approval
        names other clips or spec than these, else the draft made from the same inputs, clips and spec, if whole."""
        if self.made_from is None or (current is not None and self._still_approved(current)):
            return current
        draft = draft_set(self.store, self.campaign)
        if draft is None or draft.deliverable.inputs != inputs or draft.made_from != self.made_from:
            return None
        return draft.deliverable if all(map(self.store.exists, draft.deliverable.keys)) else None

    def _still_approved(self, current: Deliverable) -> bool:
        """False when ``current``'s approval names other clips or spec than this run's: that asks again, even when
        the files would come out the same."""
        approval = read_approval(self.store, self.campaign)
        return approval is None or approval.version != current.version or approval.made_from == self.made_from

    def settle(self, record: Deliverable) -> ReviewState:
        return settle_review(self.store, self.campaign, record, self.made_from)

    def check(self, state: ReviewState) -> AssetCheckResult:
        return AssetCheckResult(**review_check(self.campaign, state))

    def metadata(self, record: Deliverable, state: ReviewState) -> dict[str, Any]:
        return review_metadata(self.store, self.campaign, record, state)


class ApprovalConfig(Config):
    """Run config of ``approve_deliverable``; the campaign is the run's partition."""

    version: str = Field(
        default="",
        description="The draft version you previewed (the deliverable's 'version' metadata); empty: the draft "
        "awaiting approval now. A newer draft than the one named is refused.",
    )
    approved_by: str = Field(
        default="",
        max_length=100,
        description="Your name, kept in the approval record (approval.json) and shown by review and in the "
        "deliverable's metadata. `media-pipeline approve` fills in the login name unless --by names someone.",
    )


def build_approval_job(pipeline: Pipeline) -> JobDefinition:
    """``<pipeline>_approve_deliverable``: approve one campaign's draft and publish it, paying and encoding nothing."""

    store_key = pipeline.resource_key("store")

    @op(name=pipeline.named("approve_draft"), required_resource_keys={store_key})
    def approve_draft(context: OpExecutionContext, config: ApprovalConfig) -> None:
        """Approve the campaign's draft: record the approval, switch the pointer, report the published set."""
        store: MediaStore = getattr(context.resources, store_key)
        campaign, runs_before = context.partition_key, ffmpeg_runs()
        try:
            approval, record = approve(store, campaign, config.version, context.run_id, config.approved_by.strip())
        except (ReviewError, StoreError) as exc:
            raise Failure(description=str(exc)) from None
        state = settle_review(store, campaign, record, approval)
        context.log.info(state.detail)
        context.log_event(
            AssetMaterialization(
                asset_key=pipeline.asset_key("deliverable"),
                partition=campaign,
                description=state.detail,
                metadata={
                    "version": record.version,
                    "duration_s": round(record.duration, 3),
                    "poster": MetadataValue.path(store.uri(record.poster_key)),
                    "contact_sheet": MetadataValue.path(store.uri(record.contact_sheet_key)),
                    **review_metadata(store, campaign, record, state),
                    "ffmpeg_runs": ffmpeg_runs() - runs_before,
                },
            )
        )
        context.log_event(
            AssetCheckEvaluation(
                asset_key=pipeline.asset_key("deliverable"), partition=campaign, **review_check(campaign, state)
            )
        )

    @job(
        name=pipeline.named("approve_deliverable"),
        partitions_def=pipeline.partitions,
        description="Approve a campaign's draft deliverable (review: required) and publish it: no API call, no "
        "encode. Pick the campaign partition; the run config may name the draft version you previewed.",
    )
    def approve_deliverable() -> None:
        approve_draft()

    return approve_deliverable
