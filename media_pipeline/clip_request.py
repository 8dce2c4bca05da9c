"""What a generator is asked to make: one clip of one take of one shot, and the errors of a single shot.

These models carry no Dagster, so the planning (``planning.py``: lanes, cache keys, the walk that the estimate and
the run share) builds requests without importing the resources. ``ClipSpec`` is what a clip is asked to be apart
from the picture it starts on, everything its price depends on: the estimate prices a chained take whose source
clip is not made yet from its spec alone. ``ClipRequest`` adds the source and the cache key, complete.
``resources.generator`` re-exports all of them, so generators keep importing them from there.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


def clip_key(cache_key: str) -> str:
    """The store key of the clip named ``cache_key``: its one spelling."""
    return f"clips/{cache_key}.mp4"


class KeyframeImage(BaseModel):
    """An image pinned at ``timestamp`` seconds into the clip (the SDK's ``Keyframe``); ``url`` set at submission."""

    model_config = ConfigDict(frozen=True)

    key: str
    timestamp: float
    url: str = ""


class ClipSpec(BaseModel):
    """One clip as asked for, apart from where it starts: model, length, size, words and pinned images."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    model: str
    duration: int
    resolution: str
    aspect_ratio: str
    last_frame_key: str | None = None
    generate_audio: bool = True  # False: a silent clip (the SDK's generate_audio=False)
    keyframes: tuple[KeyframeImage, ...] = ()
    reference_keys: tuple[str, ...] = ()  # reference images (R2V), store keys

    @property
    def pins_last_frame(self) -> bool:
        """True when the clip must end on a given picture."""
        return self.last_frame_key is not None

    @property
    def input_images(self) -> int:
        """How many images the request sends (each is priced): first, last, keyframes, references."""
        return 1 + int(self.pins_last_frame) + len(self.keyframes) + len(self.reference_keys)


class ClipRequest(ClipSpec):
    """Everything needed to make one take's clip; ``cache_key`` names the clip in the store."""

    campaign: str
    shot: str
    cache_key: str
    image_key: str
    image_url: str
    take: int = 1
    last_frame_url: str | None = None
    reference_urls: tuple[str, ...] = ()  # the reference images' URLs, set at submission
    hosting: Literal["url", "xai_files"] = "url"  # the manifest's: xai_files sends the images as xAI file ids

    @property
    def pins_last_frame(self) -> bool:
        return self.last_frame_key is not None or self.last_frame_url is not None

    @property
    def clip_key(self) -> str:
        """Where the finished clip lives in the store."""
        return clip_key(self.cache_key)

    @property
    def where(self) -> str:
        """Campaign and shot (and the take after the first), for error messages."""
        take = f", take {self.take}" if self.take > 1 else ""
        return f"campaign {self.campaign!r}, shot {self.shot!r}{take}"


class ShotFailed(RuntimeError):
    """This shot cannot be generated (bad input, moderation, the API's failure); the others go on.

    It carries what the attempt spent (``api_calls``, ``cost_usd``, the paid ``request_id``), so a failed shot is
    reported with its calls and cost instead of $0.
    """

    def __init__(self, message: str, *, api_calls: int = 0, cost_usd: float = 0.0, request_id: str | None = None):
        super().__init__(message)
        self.api_calls = api_calls
        self.cost_usd = cost_usd
        self.request_id = request_id
