"""``image_drop_sensor``: start a campaign's run when its drop has settled, once per distinct set of files.

The rules live in ``evaluate_drops`` and see only listings (names, sizes, times, etags), so the folder drop zone
and the S3 one behave the same. A drop runs once its newest file is ``settle_seconds`` old; its ``run_key`` is the
campaign plus a fingerprint of its files, so an unchanged drop never runs twice and any added, removed or rewritten
file runs it again. The cursor keeps the fingerprint last requested per campaign.

A catalog drop's rows are campaigns too (``DropZone.list_drops``): each row runs when its own fingerprint (its
rendered manifest and its images) changes, once its whole drop has settled; all new partitions of a tick are added
in one request (a 500-row catalog registers in one tick). A drop's problems are logged once while they last; a
removed row is logged and observed on its partition (``catalog_row_removed``), and its published files are kept.

A campaign the cursor does not know yet (the sensor was just turned on, or its cursor was reset) is compared with
the instance instead: ``source_images`` records the fingerprint of the drop it read, and when ``deliverable`` was
materialized after it, that run completed on that drop. So turning the sensor on over up-to-date campaigns
requests no run, and a drop changed while the sensor was off runs once.
"""

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

from dagster import (
    AssetObservation,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from .assets._common import with_resource_keys
from .campaign import CAMPAIGN_ID_PATTERN, is_campaign_id
from .partitions import ASSET_JOB, Pipeline
from .resources.drops import DropFile, DropListing, DropZone, drop_fingerprint
from .settings import number

DEFAULT_SETTLE_SECONDS = 30.0


def settle_seconds() -> float:
    """How long a drop must sit unchanged before it runs (``MEDIA_PIPELINE_SETTLE_SECONDS``, default 30)."""
    return number(os.environ, "MEDIA_PIPELINE_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS, float, 0.0)


@dataclass
class DropDecision:
    """What one tick decided: campaigns to run (with fingerprints), partitions to add, folders skipped."""

    runs: dict[str, str] = field(default_factory=dict)
    new_partitions: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unsettled: list[str] = field(default_factory=list)
    requested: dict[str, str] = field(default_factory=dict)


def evaluate_drops(
    listing: dict[str, list[DropFile]],
    requested: dict[str, str],
    known_partitions: set[str],
    now: float,
    settle: float,
    changed_at: dict[str, float] | None = None,
) -> DropDecision:
    """Apply the drop rules to a listing; ``requested`` maps campaigns to the fingerprint last run. ``changed_at``
    is when each campaign's drop last changed (a catalog row's: its whole catalog drop), else its newest file."""
    decision = DropDecision(requested=dict(requested))
    for campaign, files in sorted(listing.items()):
        if not is_campaign_id(campaign):
            decision.invalid.append(campaign)
            continue
        if not files:
            continue
        current = drop_fingerprint(files)
        if requested.get(campaign) == current:
            continue
        newest = (changed_at or {}).get(campaign, max(f.mtime for f in files))
        if now - newest < settle:
            decision.unsettled.append(campaign)
            continue
        decision.runs[campaign] = current
        decision.requested[campaign] = current
        if campaign not in known_partitions:
            decision.new_partitions.append(campaign)
    return decision


def delivered_drops(instance: DagsterInstance, pipeline: Pipeline, campaigns: list[str]) -> dict[str, str]:
    """The drop fingerprint each campaign's last complete run read, for campaigns that have one."""
    delivered = {}
    for campaign in campaigns:
        source, deliverable = (
            instance.fetch_materializations(
                AssetRecordsFilter(asset_key=pipeline.asset_key(stage), asset_partitions=[campaign]), limit=1
            ).records
            for stage in ("source_images", "deliverable")
        )
        if source and deliverable and deliverable[0].storage_id > source[0].storage_id:
            recorded = source[0].asset_materialization.metadata.get("drop_fingerprint")
            if recorded is not None:
                delivered[campaign] = recorded.value
    return delivered


def _load_cursor(cursor: str | None) -> dict:
    state = json.loads(cursor) if cursor else {}
    return {"requested": {}, "reported": [], "problems": [], "catalogs": {}, **state}


def _listed(names: list[str], most: int = 10) -> str:
    """Names for a skip message, at most ``most`` of them (a catalog drop may wait with 500 rows)."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def removed_rows(listing: DropListing, before: dict[str, list[str]]) -> dict[str, str]:
    """Campaigns whose catalog row is gone since the last tick, with their drop; a drop whose catalog cannot be
    read right now (``listing.broken``) keeps its rows until it can."""
    removed = {}
    for drop, campaigns in before.items():
        if drop in listing.broken:
            continue
        now = set(listing.catalogs.get(drop, []))
        removed.update({campaign: drop for campaign in campaigns if campaign not in now})
    return removed


def _catalog_report(
    context: SensorEvaluationContext, listing: DropListing, state: dict, removed: dict[str, str]
) -> dict:
    """Log each catalog problem once while it lasts, and each removed row once (its published files are kept);
    returns the cursor's catalog part."""
    for problem in listing.problems:
        if _short(problem) not in state["problems"]:
            context.log.warning(problem)
    catalogs = {drop: state["catalogs"][drop] for drop in listing.broken if drop in state["catalogs"]}
    catalogs.update(listing.catalogs)
    for campaign, drop in removed.items():
        context.log.warning(
            f"catalog drop {drop!r}: the row of campaign {campaign!r} was removed; its partition and published "
            "files are kept"
        )
    return {"problems": [_short(p) for p in listing.problems], "catalogs": catalogs}


def drop_tick(
    context: SensorEvaluationContext, drops: DropZone, pipeline: Pipeline, settle: float
) -> SensorResult | SkipReason:
    """One tick: adds the partitions of new campaigns (in one request) and requests one run per settled, changed
    drop; catalog rows are campaigns like folders, and their drops' problems and removed rows are reported."""
    state = _load_cursor(context.cursor)
    known = set(context.instance.get_dynamic_partitions(pipeline.partitions.name))
    listing = drops.list_drops()
    unseen = [c for c in listing.campaigns if c in known and c not in state["requested"]]
    requested = {**delivered_drops(context.instance, pipeline, unseen), **state["requested"]}
    decision = evaluate_drops(listing.campaigns, requested, known, time.time(), settle, listing.changed_at)
    newly_invalid = [c for c in decision.invalid if c not in state["reported"]]
    for campaign in newly_invalid:
        context.log.warning(
            f"drop folder {drops.location(campaign)!r} skipped: campaign ids must match {CAMPAIGN_ID_PATTERN.pattern} "
            "as a whole"
        )
    removed = removed_rows(listing, state["catalogs"])
    catalog_state = _catalog_report(context, listing, state, removed)
    reported = sorted(set(state["reported"]) | set(newly_invalid))
    cursor = json.dumps({"requested": decision.requested, "reported": reported, **catalog_state})
    catalog_tags = {c: {"media_pipeline/catalog": drop} for drop, cs in listing.catalogs.items() for c in cs}
    runs = [
        pipeline.run_request(
            campaign,
            {"media_pipeline/drop": current, **catalog_tags.get(campaign, {})},
            run_key=f"{campaign}:{current}",
        )
        for campaign, current in decision.runs.items()
    ]
    observations = [
        AssetObservation(
            pipeline.asset_key("source_images"), partition=campaign, metadata={"catalog_row_removed": drop}
        )
        for campaign, drop in removed.items()
        if campaign in known
    ]
    if not runs:
        waiting = f"; waiting for {_listed(decision.unsettled)} to settle" if decision.unsettled else ""
        invalid = (
            f"; folders skipped, not campaign ids ({CAMPAIGN_ID_PATTERN.pattern}): "
            + ", ".join(repr(name) for name in decision.invalid)
            if decision.invalid
            else ""
        )
        gone = f"; catalog rows removed: {_listed(list(removed))}" if removed else ""
        return SensorResult(skip_reason=f"no new settled drops{waiting}{invalid}{gone}", cursor=cursor,
                            asset_events=observations)  # fmt: skip
    return SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=(
            [pipeline.partitions.build_add_request(decision.new_partitions)] if decision.new_partitions else []
        ),
        asset_events=observations,
        cursor=cursor,
    )


def build_image_drop_sensor(
    pipeline: Pipeline,
    settle: float | None = None,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """The pipeline's ``image_drop_sensor``; ``settle=None`` reads ``MEDIA_PIPELINE_SETTLE_SECONDS`` at each tick."""

    def image_drop_sensor(context: SensorEvaluationContext, drops: DropZone) -> SensorResult | SkipReason:
        return drop_tick(context, drops, pipeline, settle_seconds() if settle is None else settle)

    return sensor(
        name=pipeline.named("image_drop_sensor"),
        job_name=ASSET_JOB,
        minimum_interval_seconds=30,
        description=__doc__.split("\n\n")[0],
        default_status=default_status,
    )(with_resource_keys(image_drop_sensor, pipeline))


image_drop_sensor = build_image_drop_sensor(Pipeline())
"""The project's own pipeline's sensor."""
