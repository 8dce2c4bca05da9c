"""Run one campaign's chain on a Dagster instance and summarize it, for the CLI and for scripts.

The run goes through the instance at ``DAGSTER_HOME``, so it shows in the UI beside sensor and schedule runs.
A failure reaches the user as its innermost cause, once: without Dagster's wrappers ("Error occurred while
executing op", "Exceeded max_retries") and without the paths of temporary files.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, JobDefinition
from dagster._utils.error import SerializableErrorInfo
from pydantic import BaseModel

from .assets.generation import already_paid, clip_price, model_problems
from .assets.sources import store_sources
from .campaign import CampaignError, check_campaign_id, load_campaign
from .clip_planner import ClipPlanner
from .estimate import Estimate, estimate
from .housekeeping import ensure_dagster_home, home_lock
from .partitions import PROJECT_PIPELINE, Pipeline
from .records import GeneratedClips, HostedImage, HostedImages, SourceImages
from .resources.drops import DropZone
from .resources.io_manager import read_record, record_key
from .resources.publish import current_deliverable, stable_key
from .resources.review import ReviewSummary, current_review
from .resources.store import LocalMediaStore, MediaStore, StoreError
from .resources.xai.batch_journal import read_batches
from .settings import ConfigurationError
from .takes import Reroll, make_plan, plan_problems, read_choices


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
    status: str  # success | failure | waiting (batch mode: shots wait in an open xAI batch; a later run finishes)
    run_id: str | None = None
    error: str | None = None
    shots: list[ShotSummary] = []
    deliverables: list[str] = []
    api_calls: int = 0
    cost_usd: float = 0.0
    review: ReviewSummary | None = None  # review: required: the draft awaiting approval, or the approved set


def instance_from_env(home: Path) -> DagsterInstance:
    """The instance at ``DAGSTER_HOME`` (default: under the pipeline's home), with run monitoring configured
    when its folder is new (see ``housekeeping``); two commands creating it at once take turns."""
    folder = Path(os.environ.get("DAGSTER_HOME") or home / "dagster_home")
    try:
        os.environ["DAGSTER_HOME"] = str(ensure_dagster_home(folder))
    except OSError as exc:
        raise ConfigurationError(
            f"DAGSTER_HOME={str(folder)!r}: cannot hold the Dagster instance ({exc.strerror})"
        ) from None
    with home_lock(folder):  # a new instance's storages are created by one command at a time
        instance = DagsterInstance.get()
        instance.get_runs(limit=1)
        instance.get_dynamic_partitions(PROJECT_PIPELINE.partitions.name)
        instance.all_instigator_state()
    return instance


def _campaign_job(
    defs: Definitions, instance: DagsterInstance, campaign: str, pipeline: Pipeline = PROJECT_PIPELINE
) -> JobDefinition:
    """``ASSET_JOB``, the job of every run, once the campaign is known to be runnable: a valid id, a drop, a
    manifest that loads.

    The partition is registered only then, so a typo, a broken manifest or a store that refuses our credentials
    leaves no campaign behind for the schedule to visit. Two first runs at once may both add it: the loser finds
    it there and goes on.
    """
    check_campaign_id(campaign)
    # a store that refuses our credentials: a StoreError now, not mid-run after retries
    _store(defs, pipeline).exists(record_key("source_images", campaign))
    drops: DropZone = defs.resources[pipeline.resource_key("drops")]
    files = drops.list_files(campaign)
    if not files:
        raise CampaignError(f"campaign {campaign!r}: nothing was dropped at {drops.location(campaign)}")
    load_campaign(campaign, [f.name for f in files], drops.read_manifest(campaign))
    if not instance.has_dynamic_partition(pipeline.partitions.name, campaign):
        try:
            instance.add_dynamic_partitions(pipeline.partitions.name, [campaign])
        except Exception:  # a unique-key race with another first run (sqlite, postgres raise different types)
            if not instance.has_dynamic_partition(pipeline.partitions.name, campaign):
                raise
    return defs.resolve_implicit_global_asset_job_def()


_DOMAIN_ERRORS = {"Failure", "CampaignError", "MediaError", "StoreError", "ShotFailed", "GeneratorStopped"}


def cause_message(error: SerializableErrorInfo) -> str:
    """The innermost cause of a step failure as the user should read it.

    Our own errors already name campaign, shot and file, so they appear as their text alone; anything else keeps
    its class name. Paths inside the temporary folder are cut to the file name.
    """
    while error.cause is not None:
        error = error.cause
    text = error.message.strip()
    prefix = re.match(r"^[\w.]+: ", text)
    if prefix and prefix.group(0)[:-2].rsplit(".", 1)[-1] == error.cls_name:
        text = text[prefix.end() :]
    if error.cls_name not in _DOMAIN_ERRORS and error.cls_name:
        text = f"{error.cls_name}: {text}"
    for folder in {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}:
        text = re.sub(rf"{re.escape(folder)}/(?:[^\s'\"/]+/)*", "", text)
    return text


def _errors(result: ExecuteInProcessResult) -> str | None:
    messages = [cause_message(e.event_specific_data.error) for e in result.get_step_failure_events()]
    return "\n".join(dict.fromkeys(messages)) or None


def run_campaign(
    defs: Definitions,
    instance: DagsterInstance,
    campaign: str,
    tags: Mapping[str, str] | None = None,
    console_log_level: str = "DEBUG",
    pipeline: Pipeline = PROJECT_PIPELINE,
    run_id: str | None = None,
    generation: Mapping[str, object] | None = None,
) -> RunSummary:
    """Register the partition and materialize the whole chain for ``campaign``; a failure is in the summary.

    The instance keeps every event whatever ``console_log_level`` lets through to the terminal. ``generation`` is
    ``generated_clips``' run config (picks, a re-roll), as the Launchpad would give it.
    """
    try:
        job = _campaign_job(defs, instance, campaign, pipeline)
    except (CampaignError, StoreError) as exc:
        return RunSummary(campaign=campaign, status="failure", error=str(exc))
    result = job.execute_in_process(
        partition_key=campaign,
        asset_selection=list(pipeline.asset_keys),  # the pipeline's chain and its checks, as its sensor asks
        instance=instance,
        raise_on_error=False,
        tags=tags,
        run_id=run_id,  # chosen by the caller to follow the run's events as it executes (see progress.py)
        run_config={
            "loggers": {"console": {"config": {"log_level": console_log_level}}},
            "ops": {pipeline.asset_key("generated_clips").to_python_identifier(): {"config": dict(generation)}}
            if generation
            else {},
        },
    )
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    summary = RunSummary(
        campaign=campaign,
        status="success" if result.success else "failure",
        run_id=result.run_id,
        error=_errors(result),
    )
    store = _store(defs, pipeline)
    if result.success and pipeline.asset_key("generated_clips") not in materialized:
        summary.shots = waiting_shots(store, campaign)  # batch mode: shots still in an open xAI batch
        summary.status = "waiting" if summary.shots else summary.status
    if pipeline.asset_key("generated_clips") in materialized:
        clips = read_record(store, "generated_clips", campaign, GeneratedClips)
        summary.shots = [
            ShotSummary(
                shot=c.shot,
                status=c.status,
                clip=store.uri(c.clip_key) if c.clip_key else None,
                cache_hit=c.cache_hit,
                request_id=c.request_id,
                cost_usd=c.cost_usd,
                error=c.error,
            )
            for c in clips.clips
        ]
        summary.api_calls = sum(c.api_calls for c in clips.clips)
        summary.cost_usd = round(sum(c.cost_usd for c in clips.clips), 4)
    delivered = current_deliverable(store, campaign) if pipeline.asset_key("deliverable") in materialized else None
    if delivered:  # the files of the set the pointer names, by their stable names
        summary.deliverables = [store.stable_uri(stable_key(campaign, k)) for k in delivered.keys]
    review = current_review(store, campaign) if pipeline.asset_key("deliverable") in materialized else None
    if review and review.status in ("awaiting approval", "approved"):
        summary.review = review
    return summary


def waiting_shots(store: MediaStore, campaign: str) -> list[ShotSummary]:
    """The shots of ``campaign`` whose requests wait in an open xAI batch (its journals), one line each: ``waiting``
    with the batch request id (a chained shot waiting for one of them goes out in the next batch)."""
    pending = [clip for entry in read_batches(store, campaign) if entry.status != "closed" for clip in entry.pending()]
    return [ShotSummary(shot=c.shot, status="waiting", request_id=c.batch_request_id) for c in pending]


def _store(defs: Definitions, pipeline: Pipeline = PROJECT_PIPELINE) -> MediaStore:
    """The store the pipeline's assets write to, for reading their records back."""
    return defs.resources[pipeline.resource_key("store")]


def estimate_campaign(
    defs: Definitions, campaign: str, pipeline: Pipeline = PROJECT_PIPELINE, reroll: Reroll | None = None
) -> Estimate:
    """A true dry run: the cost of a campaign's uncached takes (of ``reroll``'s new takes alone, with it), with
    nothing recorded anywhere.

    The images are validated and normalized as ``source_images`` does, into a scratch store that is thrown away,
    for their content hashes; the planner only reads the real store (cached clips, paid journal entries). No
    Dagster run, partition or materialization, no key in the store, no request to the API.
    Raises ``CampaignError`` with the reason when the campaign cannot be estimated.
    """
    check_campaign_id(campaign)
    drops: DropZone = defs.resources[pipeline.resource_key("drops")]
    files = drops.list_files(campaign)
    if not files:
        raise CampaignError(f"campaign {campaign!r}: nothing was dropped at {drops.location(campaign)}")
    loaded = load_campaign(campaign, [f.name for f in files], drops.read_manifest(campaign))
    with tempfile.TemporaryDirectory(prefix="estimate-") as scratch:
        sources = SourceImages(campaign=loaded, files=store_sources(drops, LocalMediaStore(root=scratch), loaded))
    hosted = HostedImages(  # the images hosted_images would host (normalized PNGs), without URLs: none is sent
        campaign=campaign,
        images={
            n: HostedImage(key=f.key, sha256=f.sha256)
            for n, f in sources.files.items()
            if f.key and f.sha256 and f.key.endswith(".png")
        },
    )
    generator, store = defs.resources[pipeline.resource_key("generator")], _store(defs, pipeline)
    plan = make_plan(loaded, read_choices(store, loaded), reroll=reroll)
    problems = plan_problems(plan, {}, reroll) + model_problems(plan, generator)
    if problems:
        raise CampaignError(f"campaign {campaign!r}: {'; '.join(problems)}")
    planner = ClipPlanner(plan, sources, hosted, store, generator.kind)
    return estimate(planner, clip_price(loaded.manifest.mode, generator), partial(already_paid, store, campaign))
