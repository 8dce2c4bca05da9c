"""Renditions: the programme reframed for other screens (16:9, 9:16, 1:1), cropped or padded.

``crop`` fills the frame with the centre of the picture in the frame's shape, cropped before it is scaled (no
pixel is made only to be cropped away). ``pad`` keeps the whole picture, fitted inside the frame over a blurred
copy of itself scaled to cover it (the usual social-video treatment, no black bars). A rendition keeps the
master's short side (1280x720 -> 720x1280 and 720x720).

``reframe`` is the filter chain; ``assemble`` applies it to the master's picture, one decode feeding every
rendition's encoder, or per clip and per transition window when only some of a rendition's pieces are missing
from the segment cache (``segments``).
"""

from __future__ import annotations

from typing import Any, Literal

import ffmpeg

from media_pipeline.media.conform import PIX_FMT
from media_pipeline.media.errors import MediaError
from media_pipeline.media.formats import even, size_for

Fit = Literal["crop", "pad"]

BLUR_SHRINK = 4  # the background is blurred at a quarter size: same look, a fraction of the cost


def rendition_size(width: int, height: int, aspect: str) -> tuple[int, int]:
    """Frame size of an ``aspect`` rendition of a ``width`` x ``height`` master, keeping its short side."""
    try:
        return size_for(min(width, height), aspect)
    except ValueError as exc:
        raise MediaError(f"rendition: {exc}") from None


def crop_box(width: int, height: int) -> tuple[str, str]:
    """ffmpeg ``crop`` width and height expressions: the largest centred box of the source (even sides) with
    the shape of a ``width`` x ``height`` frame."""
    return f"trunc(min(iw,ih*{width}/{height})/2)*2", f"trunc(min(ih,iw*{height}/{width})/2)*2"


def reframe(video: Any, width: int, height: int, fit: Fit) -> Any:
    """ffmpeg-python chain bringing ``video`` to ``width`` x ``height`` by ``fit`` (square pixels, yuv420p)."""
    if fit == "crop":  # the centre of the source in the frame's shape, then scaled: no pixel made to be cropped
        video = video.filter("crop", *crop_box(width, height)).filter("scale", width, height)
    else:
        split = video.split()
        background, foreground = split[0], split[1]
        small_w, small_h = even(width / BLUR_SHRINK), even(height / BLUR_SHRINK)
        background = (
            background.filter("scale", small_w, small_h, force_original_aspect_ratio="increase")
            .filter("crop", small_w, small_h)
            .filter("gblur", sigma=max(2.0, small_h / 30))
            .filter("scale", width, height)
        )
        foreground = foreground.filter(
            "scale", width, height, force_original_aspect_ratio="decrease", force_divisible_by=2
        )
        video = ffmpeg.overlay(background, foreground, x="(W-w)/2", y="(H-h)/2")
    return video.filter("setsar", 1).filter("format", PIX_FMT)
