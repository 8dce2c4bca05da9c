"""Conform clips to one delivery spec so they can be joined: same size, rate, pixel format, codecs, audio.

Generated clips arrive in any mix of sizes, aspect ratios, frame rates and pixel formats, with or without
audio.
``conform`` re-encodes one clip to exactly a ``ConformSpec``: scaled to cover and centre-cropped (renditions,
not conform, handle letterboxing), constant frame rate, square pixels, yuv420p H.264 with a fixed GOP, and AAC
stereo whose duration equals the video's to the sample, so clips joined end to end stay in sync. A clip that
``is_conformant`` already can skip it. ``conform_streams`` exposes the same filter chain to ``stitch`` so a
crossfaded programme is conformed and joined in one encode.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import ffmpeg
from pydantic import BaseModel, Field

from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg_bin import ffmpeg_exe
from media_pipeline.media.probe import MediaInfo, probe

AudioMode = Literal["keep", "mute"]

VIDEO_CODEC = "h264"
PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"


class ConformSpec(BaseModel):
    """The one shape every clip of a deliverable is brought to before joining."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: int = Field(default=24, ge=1, le=120)
    audio_rate: int = 48000
    channels: int = Field(default=2, ge=1, le=2)
    crf: int = 20
    preset: str = "veryfast"
    audio_bitrate: str = "192k"

    @property
    def frame_seconds(self) -> float:
        """Duration of one video frame: the tolerance for every duration and sync check."""
        return 1.0 / self.fps

    @property
    def gop(self) -> int:
        """Fixed keyframe interval (two seconds) so every conformed clip starts and cuts on a keyframe."""
        return 2 * self.fps

    @property
    def layout(self) -> str:
        """ffmpeg channel layout name for ``channels``."""
        return "stereo" if self.channels == 2 else "mono"

    def frames(self, seconds: float) -> int:
        """Whole frames of ``seconds`` at this spec's rate (at least one)."""
        return max(1, round(seconds * self.fps))

    def samples(self, frames: int) -> int:
        """Audio samples that last exactly as long as ``frames`` video frames."""
        return round(frames * self.audio_rate / self.fps)

    def video_args(self) -> dict[str, Any]:
        """ffmpeg output options for the video encode every stage shares."""
        return {
            "c:v": "libx264",
            "preset": self.preset,
            "crf": self.crf,
            "pix_fmt": PIX_FMT,
            "g": self.gop,
            "keyint_min": self.gop,
            "sc_threshold": 0,
        }

    def audio_args(self) -> dict[str, Any]:
        """ffmpeg output options for the AAC encode every stage shares."""
        return {"c:a": "aac", "b:a": self.audio_bitrate, "ar": self.audio_rate, "ac": self.channels}


def source_frames(info: MediaInfo, spec: ConformSpec) -> int:
    """Frames a clip has once conformed: its video duration rounded to whole frames at the spec's rate."""
    seconds = info.video_duration or (info.frame_count / info.fps if info.fps else 0.0) or info.duration
    if seconds <= 0:
        raise MediaError(f"{info.path}: no video duration; is this a video file?")
    return spec.frames(seconds)


def conformance_problems(info: MediaInfo, spec: ConformSpec) -> list[str]:
    """What keeps a file from ``spec`` (codecs, size, rate, audio layout, A/V within a frame); empty if nothing."""
    expected = {
        "video codec": (info.video_codec, VIDEO_CODEC),
        "pixel format": (info.pix_fmt, PIX_FMT),
        "size": ((info.width, info.height), (spec.width, spec.height)),
        "audio codec": (info.audio_codec, AUDIO_CODEC),
        "audio rate": (info.audio_rate, spec.audio_rate),
        "audio channels": (info.audio_channels, spec.channels),
        "frames": (info.frame_count, source_frames(info, spec)),
    }
    problems = [f"{what} {got} != {want}" for what, (got, want) in expected.items() if got != want]
    if abs(info.fps - spec.fps) >= 0.01:
        problems.append(f"fps {info.fps:.3f} != {spec.fps}")
    if abs(info.audio_duration - info.video_duration) > spec.frame_seconds:
        problems.append(f"audio {info.audio_duration:.3f}s vs video {info.video_duration:.3f}s")
    return problems


def is_conformant(info: MediaInfo, spec: ConformSpec) -> bool:
    """True when a clip already matches ``spec``, so it can be joined without re-encoding."""
    return not conformance_problems(info, spec)


def conform_video(stream: Any, spec: ConformSpec, frames: int) -> Any:
    """Video filter chain: zero-based timestamps, constant rate, cover-scale + crop, ``frames`` long."""
    return (
        stream.filter("setpts", "PTS-STARTPTS")
        .filter("fps", spec.fps)
        .filter("scale", spec.width, spec.height, force_original_aspect_ratio="increase")
        .filter("crop", spec.width, spec.height)
        .filter("setsar", 1)
        .filter("format", PIX_FMT)
        .filter("tpad", stop_mode="clone", stop=spec.fps)  # a clip a frame short is padded, never cut short
        .filter("trim", end_frame=frames)
        .filter("setpts", "PTS-STARTPTS")
    )


def silence(spec: ConformSpec, frames: int) -> Any:
    """A silent track lasting exactly ``frames`` video frames."""
    source = ffmpeg.input(f"anullsrc=r={spec.audio_rate}:cl={spec.layout}", f="lavfi")
    return source.audio.filter("atrim", end_sample=spec.samples(frames)).filter("asetpts", "PTS-STARTPTS")


def fit_audio(stream: Any, spec: ConformSpec, frames: int) -> Any:
    """Audio filter chain: resampled to the spec's rate and layout, padded or trimmed to ``frames``."""
    return (
        stream.filter("asetpts", "PTS-STARTPTS")
        .filter("aresample", spec.audio_rate)
        .filter("aformat", sample_fmts="fltp", sample_rates=spec.audio_rate, channel_layouts=spec.layout)
        .filter("apad")
        .filter("atrim", end_sample=spec.samples(frames))
        .filter("asetpts", "PTS-STARTPTS")
    )


def conform_streams(
    path: Path, info: MediaInfo, spec: ConformSpec, *, audio: AudioMode = "keep"
) -> tuple[Any, Any, int]:
    """ffmpeg-python ``(video, audio, frames)`` streams that conform ``path``; for building larger graphs.

    A clip that is already conformant is only re-timed (no scaling), so joining it costs no extra filtering.
    """
    source = ffmpeg.input(str(path))
    frames = source_frames(info, spec)
    if is_conformant(info, spec):
        video = (
            source.video.filter("setpts", "PTS-STARTPTS")
            .filter("fps", spec.fps)  # same time base on every branch, as xfade and concat require
            .filter("trim", end_frame=frames)
        )
    else:
        video = conform_video(source.video, spec, frames)
    if audio == "keep" and info.has_audio:
        sound = fit_audio(source.audio, spec, frames)
    else:
        sound = silence(spec, frames)
    return video, sound, frames


def run_ffmpeg(stream_or_args: Any, *, what: str, loglevel: str = "error") -> str:
    """Run an ffmpeg-python graph (or a list of arguments) with our ffmpeg and return its stderr.

    Raises ``MediaError`` naming ``what`` with the tail of ffmpeg's stderr when it fails.
    """
    if isinstance(stream_or_args, Sequence) and not isinstance(stream_or_args, str):
        args = [ffmpeg_exe(), *map(str, stream_or_args)]
    else:
        graph = stream_or_args.overwrite_output().global_args("-nostdin", "-hide_banner", "-v", loglevel)
        args = graph.compile(cmd=ffmpeg_exe())
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise MediaError(f"{what}: ffmpeg failed (exit {result.returncode}): {tail}")
    return result.stderr


def conform(src: Path, out: Path, spec: ConformSpec, *, audio: AudioMode = "keep") -> Path:
    """Re-encode ``src`` to exactly ``spec`` at ``out``; silence replaces missing audio or ``audio="mute"``.

    The output's video lasts the source's video duration rounded to whole frames, and its audio lasts exactly
    as long (padded with silence or trimmed), so clips conformed this way can be concatenated without drift.
    """
    src, out = Path(src), Path(out)
    info = probe(src)
    if not info.video_codec:
        raise MediaError(f"{src}: has no video stream")
    out.parent.mkdir(parents=True, exist_ok=True)
    source = ffmpeg.input(str(src))
    frames = source_frames(info, spec)
    video = conform_video(source.video, spec, frames)
    sound = (
        fit_audio(source.audio, spec, frames) if audio == "keep" and info.has_audio else silence(spec, frames)
    )
    graph = ffmpeg.output(
        video, sound, str(out), **spec.video_args(), **spec.audio_args(), movflags="+faststart"
    )
    run_ffmpeg(graph, what=f"conform {src}")
    return out
