"""media_pipeline: still images to finished video deliverables, as Dagster assets partitioned per campaign.

``defs`` is the project's own code location (built from the environment on first use); ``build_pipeline_defs`` and
``MediaPipelineComponent`` put one or more pipelines into any Dagster project.
"""

from .component import MediaPipelineComponent
from .factory import build_pipeline_defs
from .partitions import Pipeline

__all__ = ["MediaPipelineComponent", "Pipeline", "build_pipeline_defs", "defs"]


def __getattr__(name: str):
    if name == "defs":
        from .definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
