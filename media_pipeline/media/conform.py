"""Conform clips to one delivery spec so they can be joined: same size, rate, pixel format, codecs, audio.

Generated clips arrive in any mix of sizes, aspect ratios, frame rates and pixel formats, with or without audio.
``ConformSpec`` is the one encoder configuration every picture of a deliverable is written with (the local
animator uses it too): H.264 High, yuv420p, BT.709 tags, a fixed two-second GOP, constant and exact (rational)
frame rate: 29.97 is 30000/1001, never 30. Pieces encoded with it carry identical parameter sets (SPS/PPS),
which is what lets ``join`` put stream-copied and re-encoded pieces into one file.

``conform`` re-encodes one clip to exactly the spec: scaled to cover and centre-cropped (renditions, not conform,
handle letterboxing), square pixels, and AAC stereo whose duration equals the video's to the sample. It can place
keyframes where transitions will need them, so their windows can be re-encoded alone later.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import ffmpeg
from pydantic import BaseModel, Field, field_serializer, field_validator

from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg
from media_pipeline.media.files import atomic_path
from media_pipeline.media.formats import exact_rate
from media_pipeline.media.probe import MediaInfo, probe

AudioMode = Literal["keep", "mute"]

VIDEO_CODEC = "h264"
PIX_FMT = "yuv420p"
AUDIO_CODEC = "aac"
COLOUR = "bt709"


class ConformSpec(BaseModel):
    """The one shape and encoder configuration every clip of a deliverable is brought to before joining."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: Fraction = Field(default=Fraction(24), description="exact frames per second, e.g. 30000/1001")
    audio_rate: int = 48000
    channels: int = Field(default=2, ge=1, le=2)
    crf: int = 20
    preset: str = "veryfast"
    audio_bitrate: str = "192k"

    @field_validator("fps", mode="before")
    @classmethod
    def _rational(cls, value: object) -> Fraction:
        rate = exact_rate(value)
        if not 1 <= rate <= 120:
            raise ValueError(f"fps {value} is outside 1..120")
        return rate

    @field_serializer("fps")
    def _fps_text(self, value: Fraction) -> str:
        return str(value)

    @property
    def frame_seconds(self) -> float:
        """Duration of one video frame: the tolerance for every duration and sync check."""
        return float(1 / self.fps)

    @property
    def gop(self) -> int:
        """Fixed keyframe interval (about two seconds) so every conformed clip starts and cuts on a keyframe."""
        return round(2 * self.fps)

    @property
    def layout(self) -> str:
        """ffmpeg channel layout name for ``channels``."""
        return "stereo" if self.channels == 2 else "mono"

    def frames(self, seconds: float) -> int:
        """Whole frames of ``seconds`` at this spec's rate (at least one)."""
        return max(1, round(Fraction(seconds) * self.fps))

    def seconds(self, frames: int) -> float:
        """How long ``frames`` frames last."""
        return float(frames / self.fps)

    def samples(self, frames: int) -> int:
        """Audio samples that last exactly as long as ``frames`` video frames."""
        return round(frames * self.audio_rate / self.fps)

    def sized(self, width: int, height: int) -> ConformSpec:
        """The same encoder configuration at another frame size (a rendition)."""
        return self.model_copy(update={"width": width, "height": height})

    def video_args(self, keyframes: Sequence[int] = ()) -> dict[str, Any]:
        """ffmpeg output options for the video encode every stage shares; ``keyframes`` forces IDR frames there.

        Every option that reaches the SPS/PPS is fixed here, so equal specs give bit-identical parameter sets.
        """
        args: dict[str, Any] = {
            "c:v": "libx264",
            "preset": self.preset,
            "crf": self.crf,
            "profile:v": "high",
            "pix_fmt": PIX_FMT,
            "r": str(self.fps),
            "g": self.gop,
            "keyint_min": self.gop,
            "sc_threshold": 0,
            "colorspace": COLOUR,
            "color_primaries": COLOUR,
            "color_trc": COLOUR,
            "color_range": "tv",
        }
        if keyframes:
            args["force_key_frames"] = "expr:" + "+".join(f"eq(n,{n})" for n in sorted(set(keyframes)))
        return args

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
    if abs(info.fps - float(spec.fps)) >= 0.001:
        problems.append(f"fps {info.fps:.3f} != {float(spec.fps):.3f}")
    if abs(info.audio_duration - info.video_duration) > spec.frame_seconds:
        problems.append(f"audio {info.audio_duration:.3f}s vs video {info.video_duration:.3f}s")
    return problems


def is_conformant(info: MediaInfo, spec: ConformSpec) -> bool:
    """True when a clip already matches ``spec``, so it can be joined without re-encoding."""
    return not conformance_problems(info, spec)


def encoder_input(stream: Any) -> Any:
    """The last filters before every encode: square-pixel yuv420p frames tagged BT.709, limited range, left
    chroma siting.

    x264 writes the frames' pixel aspect and colour tags into the SPS, so frames must carry the same ones
    whatever they were made from (decoded clips, drawn RGB pictures, a lavfi source) for the SPS to match.
    """
    return (
        stream.filter("setsar", 1)
        .filter("format", PIX_FMT)
        .filter(
            "setparams", range="tv", color_primaries=COLOUR, color_trc=COLOUR, colorspace=COLOUR, chroma_location="left"
        )
    )


def conform_video(stream: Any, spec: ConformSpec, frames: int) -> Any:
    """Video filter chain: zero-based timestamps, constant rate, cover-scale + crop to BT.709, ``frames`` long."""
    return (
        stream.filter("setpts", "PTS-STARTPTS")
        .filter("fps", str(spec.fps))
        .filter(
            "scale",
            spec.width,
            spec.height,
            force_original_aspect_ratio="increase",
            out_color_matrix=COLOUR,
            out_range="tv",
        )
        .filter("crop", spec.width, spec.height)
        .filter("setsar", 1)
        .filter("format", PIX_FMT)
        .filter("tpad", stop_mode="clone", stop=spec.gop)  # a clip a frame short is padded, never cut short
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


def clip_sound(path: Path, info: MediaInfo, spec: ConformSpec, audio: AudioMode, frames: int) -> Any:
    """A clip's sound fitted to ``frames``, or silence when it has none or ``audio="mute"`` (never decodes it)."""
    if audio == "keep" and info.has_audio:
        return fit_audio(ffmpeg.input(str(path), vn=None).audio, spec, frames)
    return silence(spec, frames)


def conform(
    src: Path, out: Path, spec: ConformSpec, *, audio: AudioMode = "keep", keyframes: Sequence[int] = ()
) -> Path:
    """Re-encode ``src`` to exactly ``spec`` at ``out``; silence replaces missing audio or ``audio="mute"``.

    The output's video lasts the source's video duration rounded to whole frames, and its audio lasts exactly
    as long (padded with silence or trimmed), so clips conformed this way can be concatenated without drift.
    ``keyframes`` (frame numbers) become IDR frames besides the regular GOP.
    """
    src, out = Path(src), Path(out)
    info = probe(src)
    if not info.video_codec:
        raise MediaError(f"{src}: has no video stream")
    frames = source_frames(info, spec)
    video = encoder_input(conform_video(ffmpeg.input(str(src)).video, spec, frames))
    sound = clip_sound(src, info, spec, audio, frames)
    with atomic_path(out) as tmp:
        graph = ffmpeg.output(
            video, sound, str(tmp), **spec.video_args(keyframes), **spec.audio_args(), movflags="+faststart"
        )
        run_ffmpeg(graph, what=f"conform {src}")
    return out
