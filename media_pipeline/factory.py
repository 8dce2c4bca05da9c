"""The code-first factory: the ``Definitions`` of one pipeline, from its name and its three outside systems.

``build_pipeline_defs("brand_a", drops=..., store=..., generator=...)`` gives the four assets under the key prefix
``brand_a`` with their checks, ``brand_a_image_drop_sensor``, ``brand_a_xai_batch_sensor``,
``brand_a_missed_retry_sensor`` (``retry_sensor.py``), ``brand_a_nightly_campaign_refresh``, the
``brand_a_campaigns`` partitions and the resources under ``brand_a_``-prefixed keys, so several pipelines merge into
one code location without sharing a name, a partition or a drop. Every run that materializes, from the UI, a
sensor, the schedule or the CLI, is Dagster's implicit asset job (``ASSET_JOB``) over the pipeline's four assets;
the one job of its own, ``brand_a_approve_deliverable``, only approves a draft (``approval.py``).
The project's own code location (``definitions.py``) and ``MediaPipelineComponent`` are uses of it.
"""

from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    ExecutorDefinition,
    in_process_executor,
)

from .approval import build_approval_job
from .assets import build_campaign_assets
from .batch_sensor import build_batch_sensor
from .partitions import Pipeline
from .resources.drops import DropZone
from .resources.generator import VideoGenerator
from .resources.io_manager import StoreRecordIOManager
from .resources.s3.store import S3MediaStore
from .resources.store import MediaStore
from .retry_sensor import build_missed_retry_sensor
from .schedules import build_nightly_campaign_refresh
from .sensors import build_image_drop_sensor


def pipeline_resources(pipeline: Pipeline, drops: DropZone, store: MediaStore, generator: VideoGenerator) -> dict:
    """The resources the pipeline's assets, sensor and schedule ask for, under the pipeline's keys."""
    return {
        pipeline.resource_key("store"): store,
        pipeline.resource_key("drops"): drops,
        pipeline.resource_key("generator"): generator,
        pipeline.resource_key("records_io_manager"): StoreRecordIOManager(store=store),
    }


def build_pipeline_defs(
    name: str = "",
    *,
    drops: DropZone,
    store: MediaStore,
    generator: VideoGenerator,
    executor: ExecutorDefinition | None = in_process_executor,
    settle_seconds: float | None = None,
    sensor_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
    retry_sensor_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING,
    schedule_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
) -> Definitions:
    """One pipeline's definitions. ``name`` prefixes every Dagster name (empty: the plain names, one per location).

    ``executor`` becomes the code location's default executor, which runs ``ASSET_JOB`` (default: every step in the
    run's own process, as a campaign's chain is sequential; ``None``: leave it to the location). Pipelines merged
    into one location share it: Dagster refuses to merge two different ones. ``settle_seconds`` is how long a drop
    sits unchanged before the sensor runs it (``None``: ``MEDIA_PIPELINE_SETTLE_SECONDS``, read at each tick).
    ``sensor_status`` is the drop and batch sensors' default status; ``retry_sensor_status`` the
    ``missed_retry_sensor``'s (running: it relaunches only a run whose automatic retry Dagster missed).
    """
    pipeline = Pipeline(name)
    return Definitions(
        assets=build_campaign_assets(
            pipeline,
            store_kind="s3" if isinstance(store, S3MediaStore) else "filesystem",
            generator_kind="xai" if generator.kind == "xai" else "ffmpeg",  # the local generator animates with ffmpeg
        ),
        sensors=[
            build_image_drop_sensor(pipeline, settle_seconds, sensor_status),
            build_batch_sensor(pipeline, sensor_status),  # batch mode: a run when an xAI batch has results
            # a crashed run whose retry Dagster 1.13's daemon missed; idle unless the instance has run retries on
            build_missed_retry_sensor(pipeline, default_status=retry_sensor_status),
        ],
        schedules=[build_nightly_campaign_refresh(pipeline, schedule_status)],
        jobs=[build_approval_job(pipeline)],  # review: required; never run by a sensor or the schedule
        resources=pipeline_resources(pipeline, drops, store, generator),
        executor=executor,
    )
