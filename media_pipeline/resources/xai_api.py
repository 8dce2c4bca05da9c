"""Kept importable while callers move to ``resources.xai.catalog``, which now holds these facts per model.

``PRICE_PER_SECOND_USD`` and ``PRICE_PER_IMAGE_USD`` are ``grok-imagine-video-1.5``'s figures from the catalog.
"""

from .xai.catalog import (
    ASPECT_RATIO_NAMES,
    MAX_IMAGE_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_PROMPT_CHARS,
    RESOLUTION_NAMES,
    default_catalog,
)

_V15 = default_catalog().get("grok-imagine-video-1.5")
PRICE_PER_SECOND_USD: dict[str, float] = dict(_V15.usd_per_second)
PRICE_PER_IMAGE_USD = _V15.usd_per_input_image

__all__ = [
    "ASPECT_RATIO_NAMES",
    "MAX_IMAGE_BYTES",
    "MAX_MESSAGE_BYTES",
    "MAX_PROMPT_CHARS",
    "PRICE_PER_IMAGE_USD",
    "PRICE_PER_SECOND_USD",
    "RESOLUTION_NAMES",
]
