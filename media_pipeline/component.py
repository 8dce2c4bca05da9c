"""``MediaPipelineComponent``: a media pipeline in a ``dg`` project, configured in its ``defs.yaml``.

``dg scaffold defs media_pipeline.MediaPipelineComponent brand_a`` writes a ``defs.yaml`` for a pipeline named
after its folder, with a local drop zone and store under ``data/<name>/`` and the local generator. Each component
is one pipeline (``factory.build_pipeline_defs``); several in one project get their own asset keys, job, sensor,
schedule, partitions and resource keys.

The settings are the environment variables of the project's own code location under other names, and are read by
the same functions (``definitions.*_from_env``), so a value refused there is refused here with the same message.
The xAI key is never a setting: the generator reads ``XAI_API_KEY`` when it runs (``EnvVar``), so the key stays out
of ``defs.yaml`` and of the definitions Dagster serializes. Write no ``{{ env.XAI_API_KEY }}`` in ``defs.yaml``: a
template is resolved when the definitions load, and the key would become a plain value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from .definitions import DEFAULT_MAX_CONCURRENT_GENERATIONS, drops_from_env, generator_from_env, store_from_env
from .factory import build_pipeline_defs
from .partitions import PIPELINE_NAME_PATTERN

EXECUTORS = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor}
SENSOR_STATUS = {"running": dg.DefaultSensorStatus.RUNNING, "stopped": dg.DefaultSensorStatus.STOPPED}
SCHEDULE_STATUS = {"running": dg.DefaultScheduleStatus.RUNNING, "stopped": dg.DefaultScheduleStatus.STOPPED}


def _absolute(location: str, root: Path) -> str:
    """An ``s3://`` URI as given; a folder relative to the project root made absolute."""
    return location if location.startswith("s3://") else str((root / location).resolve())


class MediaPipelineScaffolder(dg.Scaffolder):
    """Writes a ``defs.yaml`` for a local pipeline named after the folder ``dg scaffold defs`` creates."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = request.target_path.name.replace("-", "_").lower()
        dg.scaffold_component(
            request,
            {"name": name, "drops": f"data/{name}/drops", "store": f"data/{name}/store", "generator": "local"},
        )


@dg.scaffold_with(MediaPipelineScaffolder)
class MediaPipelineComponent(dg.Component, dg.Model, dg.Resolvable):
    """Still images dropped per campaign to finished video deliverables: one pipeline of ``media_pipeline``."""

    name: str = Field(
        pattern=PIPELINE_NAME_PATTERN.pattern,
        description="Prefixes the asset keys and names the job, sensor, schedule, partitions and resource keys.",
    )
    drops: str = Field(description="The drop zone: a folder (relative to the project root) or s3://bucket/prefix.")
    store: str = Field(description="Where clips, records and deliverables go: a folder or s3://bucket/prefix.")
    generator: Literal["local", "xai"] = Field(
        "local", description="local (offline stand-in) or xai (reads XAI_API_KEY from the environment at run time)."
    )
    max_concurrent_generations: int = Field(
        DEFAULT_MAX_CONCURRENT_GENERATIONS, ge=1, description="Clips generated at once within one run."
    )
    xai_api_host: str = Field("api.x.ai", description="The xAI API host (an emulator's host:port in tests).")
    xai_use_insecure_channel: bool = Field(False, description="Plaintext gRPC, for a local emulator only.")
    settle_seconds: float = Field(30.0, ge=0, description="How long a drop sits unchanged before the sensor runs it.")
    sensor_default_status: Literal["running", "stopped"] = "stopped"
    retry_sensor_default_status: Literal["running", "stopped"] = Field(
        "running", description="missed_retry_sensor: relaunches a crashed run whose retry Dagster's daemon missed."
    )
    schedule_default_status: Literal["running", "stopped"] = "stopped"
    executor: Literal["in_process", "multiprocess"] = Field(
        "in_process",
        description="The code location's default executor, which runs every campaign run (__ASSET_JOB). in_process: "
        "a campaign's steps share the run's process; multiprocess: one each. Pipelines in one location must agree.",
    )

    def environment(self, project_root: Path) -> dict[str, str]:
        """These settings as the environment variables ``definitions.py`` reads."""
        environ = {
            "MEDIA_PIPELINE_DROPS": _absolute(self.drops, project_root),
            "MEDIA_PIPELINE_STORE": _absolute(self.store, project_root),
            "MEDIA_PIPELINE_GENERATOR": self.generator,
            "MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS": str(self.max_concurrent_generations),
            "XAI_API_HOST": self.xai_api_host,
            "XAI_USE_INSECURE_CHANNEL": "1" if self.xai_use_insecure_channel else "0",
        }
        if self.generator == "xai":  # checked for presence and shape; the resource itself holds EnvVar("XAI_API_KEY")
            environ["XAI_API_KEY"] = os.environ.get("XAI_API_KEY", "")
        return environ

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        environ = self.environment(context.project_root)
        return build_pipeline_defs(
            self.name,
            drops=drops_from_env(environ),
            store=store_from_env(environ),
            generator=generator_from_env(environ),
            executor=EXECUTORS[self.executor],
            settle_seconds=self.settle_seconds,
            sensor_status=SENSOR_STATUS[self.sensor_default_status],
            retry_sensor_status=SENSOR_STATUS[self.retry_sensor_default_status],
            schedule_status=SCHEDULE_STATUS[self.schedule_default_status],
        )
