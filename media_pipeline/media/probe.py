"""What a media file holds, read with PyAV: codecs, size, frame rate, durations, audio layout."""

from __future__ import annotations

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

    @property
    def has_audio(self) -> bool:
        """True when the file carries an audio stream."""
        return self.audio_codec is not None


def _seconds(stream: av.stream.Stream) -> float:
    if stream.duration is None or stream.time_base is None:
        return 0.0
    return float(stream.duration * stream.time_base)


def probe(path: Path | str, what: str | None = None) -> MediaInfo:
    """Read the container and stream headers of ``path``; counts frames by demuxing when the header has none.

    A file that cannot be read is a ``MediaError`` naming it (and ``what`` it is, e.g. the shot).
    """
    path = Path(path)
    try:
        return _probe(path)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"{what or path}: cannot read media file {path}: {exc}") from exc


def _probe(path: Path) -> MediaInfo:
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
            frames = video.frames or sum(1 for p in container.demux(video) if p.size)
            info.video_codec = video.codec_context.name
            info.width = video.codec_context.width
            info.height = video.codec_context.height
            info.fps = float(rate)
            info.frame_count = frames
            info.pix_fmt = video.codec_context.format.name if video.codec_context.format else None
            info.video_duration = _seconds(video) or (frames / float(rate) if rate else 0.0)
        if container.streams.audio:
            audio = container.streams.audio[0]
            info.audio_codec = audio.codec_context.name
            info.audio_rate = audio.codec_context.sample_rate
            info.audio_channels = audio.codec_context.layout.nb_channels
            info.audio_duration = _seconds(audio)
    return info
