"""Run one campaign's chain on a Dagster instance and summarize it, for the CLI and for scripts.

The run goes through the instance at ``DAGSTER_HOME``, so it shows in the UI beside sensor and schedule runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult, JobDefinition
from pydantic import BaseModel

from .assets.clip_plan import ClipPlanner
from .campaign import CampaignError, check_campaign_id
from .partitions import campaign_partitions
from .records import Deliverable, GeneratedClips, HostedImages, SourceImages
from .resources.drops import DropZone
from .resources.io_manager import read_record
from .resources.storage import MediaStore


class ShotSummary(BaseModel):
    """One line per shot of ``media-pipeline run --json``."""

    shot: str
    status: str
    clip: str | None = None
    cache_hit: bool = False
    request_id: str | None = None
    cost_usd: float = 0.0
    error: str | None = None


class RunSummary(BaseModel):
    """The object ``media-pipeline run --json`` prints."""

    campaign: str
    status: str
    run_id: str | None = None
    error: str | None = None
    shots: list[ShotSummary] = []
    deliverables: list[str] = []
    api_calls: int = 0
    cost_usd: float = 0.0


def instance_from_env(home: Path) -> DagsterInstance:
    """The instance at ``DAGSTER_HOME``; without one, a persistent instance under the pipeline's home."""
    if not os.environ.get("DAGSTER_HOME"):
        dagster_home = home / "dagster_home"
        dagster_home.mkdir(parents=True, exist_ok=True)
        os.environ["DAGSTER_HOME"] = str(dagster_home)
    return DagsterInstance.get()


def _campaign_job(defs: Definitions, instance: DagsterInstance, campaign: str) -> JobDefinition:
    """The campaign job, once the campaign is known to be runnable: a valid id with a drop behind it.

    The partition is registered only then, so a typo leaves no campaign behind for the schedule to visit.
    """
    check_campaign_id(campaign)
    drops: DropZone = defs.resources["drops"]
    if not drops.list_files(campaign):
        raise CampaignError(f"campaign {campaign!r}: nothing was dropped at {drops.location(campaign)}")
    if not instance.has_dynamic_partition(campaign_partitions.name, campaign):
        instance.add_dynamic_partitions(campaign_partitions.name, [campaign])
    return defs.resolve_job_def("campaign_job")


def _errors(result: ExecuteInProcessResult) -> str | None:
    return "\n".join(e.event_specific_data.error.message.strip() for e in result.get_step_failure_events()) or None


def run_campaign(defs: Definitions, instance: DagsterInstance, campaign: str) -> RunSummary:
    """Register the partition and materialize the whole chain for ``campaign``; a failure is in the summary."""
    try:
        job = _campaign_job(defs, instance, campaign)
    except CampaignError as exc:
        return RunSummary(campaign=campaign, status="failure", error=str(exc))
    result = job.execute_in_process(partition_key=campaign, instance=instance, raise_on_error=False)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    summary = RunSummary(
        campaign=campaign,
        status="success" if result.success else "failure",
        run_id=result.run_id,
        error=_errors(result),
    )
    store = _store(defs)
    if AssetKey("generated_clips") in materialized:
        clips = read_record(store, "generated_clips", campaign, GeneratedClips)
        summary.shots = [
            ShotSummary(shot=c.shot, status=c.status, clip=store.uri(c.clip_key) if c.clip_key else None,
                        cache_hit=c.cache_hit, request_id=c.request_id, cost_usd=c.cost_usd, error=c.error)
            for c in clips.clips
        ]
        summary.api_calls = sum(c.api_calls for c in clips.clips)
        summary.cost_usd = round(sum(c.cost_usd for c in clips.clips), 4)
    if AssetKey("deliverable") in materialized:
        delivered = read_record(store, "deliverable", campaign, Deliverable)
        keys = [f.key for f in delivered.renditions] + [delivered.poster_key, delivered.contact_sheet_key]
        summary.deliverables = [store.uri(k) for k in keys]
    return summary


def _store(defs: Definitions) -> MediaStore:
    """The store the definitions' assets write to, for reading their records back."""
    return defs.resources["store"]


def estimate_campaign(defs: Definitions, instance: DagsterInstance, campaign: str) -> tuple[float, int]:
    """Dry-run cost of a campaign's uncached shots: validates and hosts its images (free), submits nothing.

    Raises ``CampaignError`` with the reason when the campaign cannot be estimated.
    """
    job = _campaign_job(defs, instance, campaign)
    result = job.execute_in_process(
        partition_key=campaign,
        instance=instance,
        asset_selection=[AssetKey("source_images"), AssetKey("hosted_images")],
        raise_on_error=False,
    )
    if not result.success:
        raise CampaignError(_errors(result) or f"campaign {campaign!r}: its images could not be prepared")
    store = _store(defs)
    planner = ClipPlanner(
        read_record(store, "source_images", campaign, SourceImages),
        read_record(store, "hosted_images", campaign, HostedImages),
        store,
        defs.resources["generator"],
    )
    return planner.estimate()
