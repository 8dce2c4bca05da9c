"""Renditions: the programme reframed for other screens (16:9, 9:16, 1:1), cropped or padded.

``crop`` fills the frame with a centre cover-crop. ``pad`` keeps the whole picture, fitted inside the frame
over a blurred copy of itself scaled to cover it (the usual social-video treatment, no black bars). A
rendition keeps the master's short side (1280x720 -> 720x1280 and 720x720) unless asked otherwise.

``reframe`` is the filter chain; ``assemble`` applies it per clip and per transition window (the same pieces the
master is joined from), so a rendition costs one encode of its own pixels and is cached per clip like the
master. ``rendition`` reframes a finished file instead (audio stream-copied); a rendition in the file's own
shape and size is a byte copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from media_pipeline.media.conform import PIX_FMT, ConformSpec, encoder_input
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg
from media_pipeline.media.files import atomic_path
from media_pipeline.media.formats import even, size_for
from media_pipeline.media.probe import probe

Aspect = Literal["16:9", "9:16", "1:1"]
Fit = Literal["crop", "pad"]

BLUR_SHRINK = 4  # the background is blurred at a quarter size: same look, a fraction of the cost


def rendition_size(width: int, height: int, aspect: str, short_side: int | None = None) -> tuple[int, int]:
    """Frame size of an ``aspect`` rendition of a ``width`` x ``height`` master, keeping its short side."""
    try:
        return size_for(short_side or min(width, height), aspect)
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


def rendition(
    master: Path,
    out: Path,
    *,
    aspect: Aspect,
    fit: Fit = "crop",
    short_side: int | None = None,
) -> Path:
    """Write the ``aspect`` rendition of the finished file ``master`` to ``out``; returns ``out``."""
    master, out = Path(master), Path(out)
    info = probe(master)
    if not info.video_codec:
        raise MediaError(f"rendition {aspect} of {master}: it has no video stream")
    width, height = rendition_size(info.width, info.height, aspect, short_side)
    if (width, height) == (info.width, info.height):
        if out.resolve() != master.resolve():
            with atomic_path(out) as tmp:
                shutil.copyfile(master, tmp)
        return out
    source = ffmpeg.input(str(master))
    video = encoder_input(reframe(source.video, width, height, fit))
    spec = ConformSpec(width=width, height=height, fps=info.fps)
    streams = [video, source.audio] if info.has_audio else [video]
    extra = {"c:a": "copy"} if info.has_audio else {}
    with atomic_path(out) as tmp:
        graph = ffmpeg.output(*streams, str(tmp), **spec.video_args(), **extra, movflags="+faststart")
        run_ffmpeg(graph, what=f"rendition {aspect} ({fit}) of {master}")
    return out
