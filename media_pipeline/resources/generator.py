"""The video generator resource: one still image and a prompt in, one clip in the store out.

``VideoGenerator`` is the interface the ``generated_clips`` asset fans out over; ``XaiVideoGenerator``
(``xai/generator.py``) calls xAI's image-to-video API through ``xai_sdk`` and ``LocalVideoGenerator`` animates
the still with ffmpeg, offline, for the demo and for development. Implementations are called from several
threads at once (up to ``concurrency``), so they must be thread-safe. The request models live in the Dagster-free
``clip_request`` (the planning builds them) and are re-exported here.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path

from dagster import ConfigurableResource

from ..clip_request import ClipRequest, ClipSpec, KeyframeImage, ShotFailed
from ..media.animate import animate_still
from ..media.errors import MediaError
from ..media.probe import probe
from ..records import ClipOutcome
from .store import MediaStore

__all__ = [
    "ClipOutcome",
    "ClipRequest",
    "ClipSpec",
    "GeneratorStopped",
    "KeyframeImage",
    "LocalVideoGenerator",
    "ShotFailed",
    "VideoGenerator",
]


class GeneratorStopped(RuntimeError):
    """Nothing more can be generated in this step (bad credentials, no permission): stop every shot now."""


class VideoGenerator(ConfigurableResource, ABC):
    """Abstract generator. ``kind`` goes into cache keys so clips from different backends never mix."""

    @property
    @abstractmethod
    def kind(self) -> str:
        """Short backend name (``xai``, ``local``) used in cache keys and metadata."""

    @property
    @abstractmethod
    def concurrency(self) -> int:
        """How many shots this generator may have in flight at once."""

    @abstractmethod
    def estimate_usd(self, request: ClipSpec) -> float:
        """What generating a clip of this spec (a ``ClipRequest`` is one) would cost, before it is submitted."""

    @abstractmethod
    def generate(self, request: ClipRequest, store: MediaStore, log: logging.Logger) -> ClipOutcome:
        """Make the clip for ``request`` and store it at ``request.clip_key``.

        Raises ``ShotFailed`` for a failure of this shot alone and ``GeneratorStopped`` when no further request
        can succeed.
        """


class LocalVideoGenerator(VideoGenerator):
    """Animates the still with ffmpeg (a camera move read from the prompt; a pinned end image dissolved in at the
    end): free, offline, deterministic."""

    max_concurrent: int = 2

    @property
    def kind(self) -> str:
        return "local"

    @property
    def concurrency(self) -> int:
        return self.max_concurrent

    def estimate_usd(self, request: ClipSpec) -> float:
        return 0.0

    def generate(self, request: ClipRequest, store: MediaStore, log: logging.Logger) -> ClipOutcome:
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="local-gen-") as tmp, contextlib.ExitStack() as inputs:
            clip = Path(tmp) / "clip.mp4"
            image = inputs.enter_context(store.local_file(request.image_key))
            end = inputs.enter_context(store.local_file(request.last_frame_key)) if request.last_frame_key else None
            try:
                animate_still(
                    image,
                    clip,
                    prompt=request.prompt,
                    duration=request.duration,
                    resolution=request.resolution,
                    aspect_ratio=request.aspect_ratio,
                    end_image=end,
                    audio=request.generate_audio,
                )
                info = probe(clip, request.where)
            except (MediaError, OSError) as exc:  # ffmpeg's or Pillow's own message says what was wrong
                raise ShotFailed(f"{request.where}: could not animate {request.image_key}: {exc}") from exc
            store.put_file(request.clip_key, clip)
        log.info("%s: animated locally in %.1fs", request.where, time.monotonic() - started)
        return ClipOutcome(
            shot=request.shot,
            status="generated",
            clip_key=request.clip_key,
            video_seconds=info.duration,
            latency_s=time.monotonic() - started,
        )
