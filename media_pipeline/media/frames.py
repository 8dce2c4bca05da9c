"""Single frames out of a clip with PyAV: exact decoded pixels, for chaining shots, checks and posters.

A chained shot starts from the previous clip's last frame, so ``extract_frame`` writes the decoded pixels
losslessly (PNG, RGB24) rather than re-encoding them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image

from media_pipeline.media.errors import MediaError
from media_pipeline.media.files import atomic_path

Which = Literal["first", "last"] | float


def _decode(video: Path, which: Which) -> av.VideoFrame:
    """Decode the frame ``which`` names: first, last, or the one showing at ``which`` seconds."""
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise MediaError(f"{video}: no video stream")
            stream = container.streams.video[0]
            if which == "last":  # a whole decode: frame threads pay off; one frame is faster without them
                stream.thread_type = "AUTO"
            if which == "first":
                for frame in container.decode(stream):
                    return frame
                raise MediaError(f"{video}: no decodable video frame")
            if which == "last":
                last = None
                for last in container.decode(stream):  # noqa: B007 - the loop keeps the final frame
                    pass
                if last is None:
                    raise MediaError(f"{video}: no decodable video frame")
                return last
            return _decode_at(container, stream, float(which), video)
    except av.FFmpegError as exc:
        raise MediaError(f"{video}: cannot decode ({exc})") from exc


def _decode_at(container: av.container.InputContainer, stream: av.VideoStream, t: float, video: Path) -> av.VideoFrame:
    """The frame on screen at ``t`` seconds: the last one starting at or before ``t`` (or the very last)."""
    if t < 0:
        raise MediaError(f"{video}: negative frame time {t}")
    rate = float(stream.average_rate or stream.guessed_rate or 24)
    # Timestamps are rounded to the time base: don't miss the frame that starts at ``t``.
    epsilon = 0.25 / rate
    if t > 1.0 and stream.time_base:
        container.seek(int(t / stream.time_base), stream=stream, backward=True, any_frame=False)
    chosen = None
    for frame in container.decode(stream):
        if chosen is not None and frame.time is not None and frame.time > t + epsilon:
            break
        chosen = frame
    if chosen is None:
        raise MediaError(f"{video}: no decodable video frame at {t} s")
    return chosen


def read_frame(video: Path, which: Which = "first", *, width: int | None = None) -> np.ndarray:
    """The decoded frame ``which`` ("first", "last" or seconds) of ``video`` as an HxWx3 uint8 RGB array;
    ``width`` scales it down (area averaging, aspect kept) in the same conversion, for thumbnails."""
    frame = _decode(Path(video), which)
    if width is None or width >= frame.width:
        return frame.to_ndarray(format="rgb24")
    height = max(1, round(frame.height * width / frame.width))
    return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


def _write(image: Image.Image, dest: Path, **save: object) -> Path:
    with atomic_path(dest) as tmp:
        image.save(tmp, format=str(save.pop("format")), **save)
    return dest


def extract_frame(video: Path, dest_png: Path, *, which: Which) -> Path:
    """Write the exact decoded pixels of frame ``which`` ("first", "last" or seconds) as an RGB PNG."""
    pixels = read_frame(video, which)
    return _write(Image.fromarray(pixels), Path(dest_png), format="PNG")


def poster(video: Path, dest_jpg: Path, *, at: float | None = None) -> Path:
    """Write a JPEG (quality 90) of the frame at ``at`` seconds, by default the middle of ``video``."""
    video = Path(video)
    if at is None:
        try:
            with av.open(str(video)) as container:
                duration = float(container.duration / av.time_base) if container.duration else 0.0
        except av.FFmpegError as exc:
            raise MediaError(f"{video}: cannot open ({exc})") from exc
        at = duration / 2
    pixels = read_frame(video, at)
    return _write(Image.fromarray(pixels), Path(dest_jpg), format="JPEG", quality=90, optimize=True)
