"""Single frames out of a clip with PyAV: exact decoded pixels, for chaining shots, checks and posters.

A chained shot starts from the previous clip's last frame, so ``extract_frame`` writes the decoded pixels
losslessly (PNG, RGB24) rather than re-encoding them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image

from media_pipeline.media.errors import MediaError
from media_pipeline.media.files import atomic_path

Which = Literal["first", "last"] | float


def _decode(video: Path, which: Sequence[Which]) -> list[av.VideoFrame]:
    """Decode the frames ``which`` names (first, last, or the one showing at so many seconds), in that order,
    from one opening of ``video``."""
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                raise MediaError(f"{video}: no video stream")
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # one frame: decoder threads cost more than they save
            return [_decode_one(container, stream, one, video, rewind=i > 0) for i, one in enumerate(which)]
    except av.FFmpegError as exc:
        raise MediaError(f"{video}: cannot decode ({exc})") from exc


def _decode_one(
    container: av.container.InputContainer, stream: av.VideoStream, which: Which, video: Path, rewind: bool
) -> av.VideoFrame:
    """One frame of ``which``; ``rewind`` when the container was read before (the frame is then always sought)."""
    if which == "first":
        if rewind:
            container.seek(0, stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            return frame
        raise MediaError(f"{video}: no decodable video frame")
    return _decode_at(container, stream, math.inf if which == "last" else float(which), video, rewind)


def _decode_at(
    container: av.container.InputContainer, stream: av.VideoStream, t: float, video: Path, rewind: bool
) -> av.VideoFrame:
    """The frame on screen at ``t`` seconds: the last one starting at or before ``t`` (the very last for ``inf``).

    Read from the keyframe before ``t``; of the packets up to ``t``, only the frames others refer to and the
    wanted frame itself are decoded (frames no other frame refers to are skipped: about half of them)."""
    if t < 0:
        raise MediaError(f"{video}: negative frame time {t}")
    tb = stream.time_base or Fraction(1, 90000)
    rate = float(stream.average_rate or stream.guessed_rate or 24)
    # Timestamps are rounded to the time base: don't miss the frame that starts at ``t``.
    until = t + 0.25 / rate
    if t > 1.0 or rewind:  # near the start, reading on from the first packet is cheaper than a seek
        end = float((stream.start_time or 0) * tb + (stream.duration or 0) * tb)
        container.seek(int(min(t, end) / tb), stream=stream, backward=True, any_frame=False)
    packets = []
    for packet in container.demux(stream):
        if packet.dts is not None and packet.dts * tb > until:
            break  # decode order: no later packet shows at or before ``t``
        if packet.size and packet.pts is not None:
            packets.append(packet)
    if not packets:
        raise MediaError(f"{video}: no decodable video frame at {t} s")
    shown = [p.pts for p in packets if p.pts * tb <= until]
    wanted = max(shown) if shown else min(p.pts for p in packets)
    context, chosen = stream.codec_context, None
    for packet in [*packets, None]:
        context.skip_frame = "DEFAULT" if packet is None or packet.pts == wanted else "NONREF"
        for frame in context.decode(packet):
            if frame.pts == wanted:
                chosen = frame
    if chosen is None:
        raise MediaError(f"{video}: no decodable video frame at {t} s")
    return chosen


def read_frames(video: Path, which: Sequence[Which], *, width: int | None = None) -> list[np.ndarray]:
    """The decoded frames ``which`` ("first", "last" or seconds) of ``video``, each an HxWx3 uint8 RGB array,
    from one opening of the file; ``width`` scales them down (aspect kept) in the same conversion, for
    thumbnails, with swscale's bicubic filter (widened when shrinking, so it does not alias; a fifth of the
    time of its area averaging)."""
    frames = _decode(Path(video), which)
    if width is None or width >= frames[0].width:
        return [frame.to_ndarray(format="rgb24") for frame in frames]
    height = max(1, round(frames[0].height * width / frames[0].width))
    return [
        frame.reformat(width=width, height=height, format="rgb24", interpolation="BICUBIC").to_ndarray()
        for frame in frames
    ]


def read_frame(video: Path, which: Which = "first", *, width: int | None = None) -> np.ndarray:
    """The decoded frame ``which`` ("first", "last" or seconds) of ``video`` as an HxWx3 uint8 RGB array."""
    return read_frames(video, [which], width=width)[0]


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
