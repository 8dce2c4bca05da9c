"""The pipeline's four stages, in order: sources, hosting, generation, delivery; built into any pipeline's assets."""

import functools

from dagster import AssetsDefinition

from ..partitions import Pipeline
from ._common import CampaignAsset
from .delivery import deliverable
from .generation import generated_clips
from .hosting import hosted_images
from .sources import source_images

STAGE_ASSETS: list[CampaignAsset] = [source_images, hosted_images, generated_clips, deliverable]


@functools.cache
def build_campaign_assets(
    pipeline: Pipeline, store_kind: str = "filesystem", generator_kind: str = "ffmpeg"
) -> tuple[AssetsDefinition, ...]:
    """The four assets of ``pipeline`` (built once per pipeline and backends, so every use shares them).

    ``store_kind`` and ``generator_kind`` are the kinds the UI shows for the configured store and generator.
    """
    backends = {"store": store_kind, "generator": generator_kind}
    return tuple(stage.build(pipeline, backends) for stage in STAGE_ASSETS)


campaign_assets = build_campaign_assets(Pipeline())
"""The project's own pipeline's assets (plain keys, the ``campaigns`` partitions)."""

__all__ = ["STAGE_ASSETS", "build_campaign_assets", "campaign_assets"]
