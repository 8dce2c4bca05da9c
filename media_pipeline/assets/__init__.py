"""The pipeline's four stages, in order: sources, hosting, generation, delivery."""

from .delivery import deliverable
from .generation import generated_clips
from .hosting import hosted_images
from .sources import source_images

campaign_assets = [source_images, hosted_images, generated_clips, deliverable]

__all__ = ["campaign_assets", "deliverable", "generated_clips", "hosted_images", "source_images"]
