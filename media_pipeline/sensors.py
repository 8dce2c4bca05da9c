"""``image_drop_sensor``: start a campaign's run when its drop has settled, once per distinct set of files.

The rules live in ``evaluate_drops`` and see only listings (names, sizes, times, etags), so the folder drop zone
and the S3 one behave the same. A drop runs once its newest file is ``settle_seconds`` old; its ``run_key`` is the
campaign plus a fingerprint of its files, so an unchanged drop never runs twice and any added, removed or rewritten
file runs it again. The cursor keeps the fingerprint last requested per campaign.

A campaign the cursor does not know yet (the sensor was just turned on, or its cursor was reset) is compared with
the instance instead: ``source_images`` records the fingerprint of the drop it read, and when ``deliverable`` was
materialized after it, that run completed on that drop. So turning the sensor on over up-to-date campaigns
requests no run, and a drop changed while the sensor was off runs once.
"""

import json
import os
import time
from dataclasses import dataclass, field

from dagster import (
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
from .resources.drops import DropFile, DropZone, drop_fingerprint
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
) -> DropDecision:
    """Apply the drop rules to a listing; ``requested`` maps campaigns to the fingerprint last run."""
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
        if now - max(f.mtime for f in files) < settle:
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
    return json.loads(cursor) if cursor else {"requested": {}, "reported": []}


def drop_tick(
    context: SensorEvaluationContext, drops: DropZone, pipeline: Pipeline, settle: float
) -> SensorResult | SkipReason:
    """One tick: adds the partition for each new campaign and requests one run per settled, changed drop."""
    state = _load_cursor(context.cursor)
    known = set(context.instance.get_dynamic_partitions(pipeline.partitions.name))
    listing = drops.list_campaigns()
    unseen = [c for c in listing if c in known and c not in state["requested"]]
    requested = {**delivered_drops(context.instance, pipeline, unseen), **state["requested"]}
    decision = evaluate_drops(listing, requested, known, time.time(), settle)
    newly_invalid = [c for c in decision.invalid if c not in state["reported"]]
    for campaign in newly_invalid:
        context.log.warning(
            f"drop folder {drops.location(campaign)!r} skipped: campaign ids must match {CAMPAIGN_ID_PATTERN.pattern} "
            "as a whole"
        )
    reported = sorted(set(state["reported"]) | set(newly_invalid))
    cursor = json.dumps({"requested": decision.requested, "reported": reported})
    runs = [
        pipeline.run_request(campaign, {"media_pipeline/drop": current}, run_key=f"{campaign}:{current}")
        for campaign, current in decision.runs.items()
    ]
    if not runs:
        waiting = f"; waiting for {', '.join(decision.unsettled)} to settle" if decision.unsettled else ""
        invalid = (
            f"; folders skipped, not campaign ids ({CAMPAIGN_ID_PATTERN.pattern}): "
            + ", ".join(repr(name) for name in decision.invalid)
            if decision.invalid
            else ""
        )
        return SensorResult(skip_reason=f"no new settled drops{waiting}{invalid}", cursor=cursor)
    return SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=(
            [pipeline.partitions.build_add_request(decision.new_partitions)] if decision.new_partitions else []
        ),
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
