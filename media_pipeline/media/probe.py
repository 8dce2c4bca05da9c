"""What a media file holds, read with PyAV: codecs, size, frame rate, durations, audio layout, keyframes.

Keyframe times are read from the packet index (no decoding) only when asked for: smart rendering needs them to
know which stretches of a clip can be stream-copied.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
from pydantic import BaseModel

from .errors import MediaError


class MediaInfo(BaseModel):
    """The facts about a clip or deliverable that tests, checks and metadata look at."""

    path: str
    container: str
    size_bytes: int
    duration: float
    video_codec: str | None = None
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frame_count: int = 0
    pix_fmt: str | None = None
    video_duration: float = 0.0
    audio_codec: str | None = None
    audio_rate: int = 0
    audio_channels: int = 0
    audio_duration: float = 0.0
    keyframes: list[float] | None = None  # seconds; None when not asked for
    video_config: str | None = None  # digest of codec, size and parameter sets: equal ones join by stream copy

    def keyframe_frames(self, fps: float) -> list[int]:
        """Frame numbers of the keyframes at ``fps`` (requires ``probe(..., keyframes=True)``)."""
        if self.keyframes is None:
            raise ValueError(f"{self.path}: probed without keyframes")
        return sorted({round(t * fps) for t in self.keyframes})

    @property
    def has_audio(self) -> bool:
        """True when the file carries an audio stream."""
        return self.audio_codec is not None


def _seconds(stream: av.stream.Stream) -> float:
    if stream.duration is None or stream.time_base is None:
        return 0.0
    return float(stream.duration * stream.time_base)


def probe(path: Path | str, what: str | None = None, *, keyframes: bool = False) -> MediaInfo:
    """Read the container and stream headers of ``path``; counts frames by demuxing when the header has none.

    ``keyframes=True`` also lists the video keyframes' times (one pass over the packets, no decoding). A file
    that cannot be read is a ``MediaError`` naming it (and ``what`` it is, e.g. the shot).
    """
    path = Path(path)
    try:
        return _probe(path, keyframes)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{what or path}: cannot read media file {path}: {exc}") from exc


def _probe(path: Path, keyframes: bool) -> MediaInfo:
    with av.open(str(path)) as container:
        info = MediaInfo(
            path=str(path),
            container=container.format.name,
            size_bytes=path.stat().st_size,
            duration=float(container.duration / av.time_base) if container.duration else 0.0,
        )
        if container.streams.video:
            video = container.streams.video[0]
            rate = video.average_rate or video.guessed_rate or Fraction(0)
            frames = video.frames
            if keyframes or not frames:
                packets = [(p.pts, p.is_keyframe) for p in container.demux(video) if p.size]
                frames = frames or len(packets)
                if keyframes:
                    tb = video.time_base or Fraction(1, 1)
                    info.keyframes = sorted(float(pts * tb) for pts, key in packets if key and pts is not None)
            info.video_codec = video.codec_context.name
            info.width = video.codec_context.width
            info.height = video.codec_context.height
            info.fps = float(rate)
            info.frame_count = frames
            info.pix_fmt = video.codec_context.format.name if video.codec_context.format else None
            ctx = video.codec_context
            config = f"{ctx.name}:{ctx.width}x{ctx.height}:".encode() + bytes(ctx.extradata or b"")
            info.video_config = hashlib.sha256(config).hexdigest()[:32]
            info.video_duration = _seconds(video) or (frames / float(rate) if rate else 0.0)
        if container.streams.audio:
            audio = container.streams.audio[0]
            info.audio_codec = audio.codec_context.name
            info.audio_rate = audio.codec_context.sample_rate
            info.audio_channels = audio.codec_context.layout.nb_channels
            info.audio_duration = _seconds(audio)
    return info
