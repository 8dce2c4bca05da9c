"""media_pipeline: still images to finished video deliverables, as Dagster assets partitioned per campaign."""

from .definitions import defs

__all__ = ["defs"]
