"""``EmulatorConfig``: how the emulated xAI API behaves — latency, capacity, prices, the expected key, faults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..resources.xai_api import MAX_IMAGE_BYTES, PRICE_PER_IMAGE_USD, PRICE_PER_SECOND_USD
from .faults import Faults


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated API behaves; the defaults are quick, unlimited in rate and fault-free."""

    latency_seconds: float = 1.0
    latency_per_second: float = 0.0
    max_concurrent: int = 16
    require_key: str | None = None
    render_concurrency: int = 2
    max_image_bytes: int = MAX_IMAGE_BYTES
    price_per_second_usd: Mapping[str, float] = field(default_factory=lambda: dict(PRICE_PER_SECOND_USD))
    price_per_image_usd: float = PRICE_PER_IMAGE_USD
    fps: int = 24
    faults: Faults = field(default_factory=Faults)
