"""``EmulatorConfig``: how the emulated xAI API behaves — latency, capacity, rate, models, URLs, key, faults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..resources.xai.catalog import (
    BATCH_RESULT_URL_SECONDS,
    MAX_IMAGE_BYTES,
    RESULT_URL_SECONDS,
    ModelCatalog,
    default_catalog,
)
from .faults import Faults


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated API behaves; the defaults are quick, unlimited in rate and fault-free."""

    latency_seconds: float = 1.0
    latency_per_second: float = 0.0  # extra PENDING seconds per second of video
    latency_jitter_seconds: float = 0.0  # each request's latency drawn uniformly within +/- this (seeded)
    batch_latency_seconds: float | None = None  # a batch request's latency; None: as a sync request's
    max_concurrent: int = 16  # PENDING sync requests before RESOURCE_EXHAUSTED
    rps: float | None = None  # requests per second per (key, model) for submits; None: no limit
    rps_polls: bool = False  # polls spend the same (key, model) budget as submits
    require_key: str | None = None
    render_concurrency: int = 2
    max_image_bytes: int = MAX_IMAGE_BYTES
    catalog: ModelCatalog = field(default_factory=default_catalog)  # models, aliases, prices, capabilities
    url_ttl_seconds: float = RESULT_URL_SECONDS  # a sync result URL's lifetime from when the clip is ready
    batch_url_ttl_seconds: float = BATCH_RESULT_URL_SECONDS
    url_expired_status: int = 403  # what a lapsed URL answers (a signed URL's 403, or 410)
    fetch_urls: bool = True  # False: http(s) image URLs cannot be reached (a private store); data: URLs and files can
    fps: int = 24
    seed: int = 0  # latency draws
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if self.rps is not None and not 0 < self.rps < math.inf:  # also refuses NaN
            raise ValueError(f"rps must be a number above 0, got {self.rps}")
        durations = ("latency_seconds", "latency_per_second", "latency_jitter_seconds", "batch_latency_seconds")
        for name in (*durations, "url_ttl_seconds", "batch_url_ttl_seconds"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a number of at least 0, got {value}")
        if self.url_expired_status not in (403, 404, 410):
            raise ValueError(f"url_expired_status must be 403, 404 or 410, got {self.url_expired_status}")
