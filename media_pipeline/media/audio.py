"""Programme audio: keep the clips' sound, mute it, or lay a soundtrack under the cut; normalised to -16 LUFS.

Only the audio is re-encoded here; the programme's video is stream-copied. Modes:

- ``keep``: the stitched sound, loudness-normalised.
- ``mute``: a silent track of the programme's length (never normalised: silence stays silent).
- a ``soundtrack`` file: looped or trimmed to the programme's length with a fade in and out. With
  ``audio="mute"`` it replaces the clips' sound; with ``audio="keep"`` it is mixed under it, ``bed_db``
  (-8 dB) below, so generated sound effects stay audible over the music. The mix is then normalised.

Normalisation is ffmpeg ``loudnorm`` in two passes (measure, then a linear gain with the measured values) to
``target_lufs`` integrated; the result is checked with ``ebur128`` and nudged with a plain gain if it still
misses by more than half a LU (loudnorm falls back to dynamic mode on very short programmes).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import ffmpeg
from pydantic import BaseModel

from media_pipeline.media.conform import ConformSpec, run_ffmpeg
from media_pipeline.media.errors import MediaError
from media_pipeline.media.probe import probe

TARGET_LUFS = -16.0
TRUE_PEAK_DB = -1.5
SILENT_LUFS = -69.0  # ebur128 reports -70 LUFS (its absolute gate) for silence
TOLERANCE_LU = 0.5

_SUMMARY_I = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf)\s*LUFS", re.S)


class AudioResult(BaseModel):
    """The programme with its final audio; ``loudness_lufs`` is None when the track is silent."""

    path: Path
    mode: str
    loudness_lufs: float | None
    normalized: bool


def measure_loudness(path: Path) -> float:
    """Integrated loudness of ``path``'s first audio track in LUFS (ebur128 summary; -70.0 for silence)."""
    path = Path(path)
    graph = ffmpeg.input(str(path)).audio.filter("ebur128").output("-", f="null")
    stderr = run_ffmpeg(graph, what=f"measure loudness of {path}", loglevel="info")
    found = _SUMMARY_I.findall(stderr)
    if not found:
        raise MediaError(f"measure loudness of {path}: no ebur128 summary (does it have audio?)")
    value = found[-1]
    return -70.0 if value == "-inf" else float(value)


def _loudnorm_measure(stream: Any, what: str, target: float) -> dict[str, str]:
    graph = stream.filter("loudnorm", I=target, TP=TRUE_PEAK_DB, LRA=11, print_format="json").output(
        "-", f="null"
    )
    stderr = run_ffmpeg(graph, what=what, loglevel="info")
    start, end = stderr.rfind("{"), stderr.rfind("}")
    if start < 0 or end < start:
        raise MediaError(f"{what}: loudnorm printed no measurement")
    return json.loads(stderr[start : end + 1])


def _is_silent(measured: dict[str, str]) -> bool:
    value = measured.get("input_i", "-inf")
    return value in ("-inf", "inf", "nan") or float(value) <= SILENT_LUFS


def _bed(soundtrack: Path, spec: ConformSpec, samples: int, seconds: float, fade: float) -> Any:
    fade = min(fade, seconds / 4)
    return (
        ffmpeg.input(str(soundtrack), stream_loop=-1)
        .audio.filter("aresample", spec.audio_rate)
        .filter("aformat", sample_fmts="fltp", sample_rates=spec.audio_rate, channel_layouts=spec.layout)
        .filter("atrim", end_sample=samples)
        .filter("asetpts", "PTS-STARTPTS")
        .filter("afade", t="in", st=0, d=fade)
        .filter("afade", t="out", st=max(0.0, seconds - fade), d=fade)
    )


def _silence(spec: ConformSpec, samples: int) -> Any:
    source = ffmpeg.input(f"anullsrc=r={spec.audio_rate}:cl={spec.layout}", f="lavfi").audio
    return source.filter("atrim", end_sample=samples)


def _mix_source(
    programme: Path,
    info_has_audio: bool,
    spec: ConformSpec,
    samples: int,
    seconds: float,
    audio: str,
    soundtrack: Path | None,
    bed_db: float,
    fade: float,
) -> Any:
    """The programme's audio before normalisation, as a fresh ffmpeg-python stream (one per ffmpeg run)."""
    own = None
    if audio == "keep" and info_has_audio:
        own = (
            ffmpeg.input(str(programme))
            .audio.filter("aformat", sample_fmts="fltp", channel_layouts=spec.layout)
            .filter("apad")
            .filter("atrim", end_sample=samples)
        )
    if soundtrack is None:
        return own if own is not None else _silence(spec, samples)
    bed = _bed(soundtrack, spec, samples, seconds, fade)
    if own is None:
        return bed
    bed = bed.filter("volume", f"{bed_db}dB")
    return ffmpeg.filter([own, bed], "amix", inputs=2, duration="first", normalize=0)


def programme_audio(
    programme: Path,
    out: Path,
    *,
    audio: Literal["keep", "mute"] = "keep",
    soundtrack: Path | None = None,
    spec: ConformSpec | None = None,
    target_lufs: float = TARGET_LUFS,
    fade_seconds: float = 1.0,
    bed_db: float = -8.0,
) -> AudioResult:
    """Write ``programme`` to ``out`` with its final audio (see the module doc); video is stream-copied."""
    programme, out = Path(programme), Path(out)
    spec = spec or ConformSpec(width=2, height=2)  # only the audio fields are used
    info = probe(programme)
    seconds = info.video_duration or info.duration
    samples = round(seconds * spec.audio_rate)
    if soundtrack is not None and not Path(soundtrack).is_file():
        raise MediaError(f"soundtrack {soundtrack} does not exist")
    mode = f"soundtrack+{audio}" if soundtrack is not None else audio

    def source() -> Any:
        return _mix_source(
            programme, info.has_audio, spec, samples, seconds, audio, soundtrack, bed_db, fade_seconds
        )

    what = f"audio ({mode}) for {programme}"
    silent = mode == "mute"
    if not silent:
        measured = _loudnorm_measure(source(), what, target_lufs)
        silent = _is_silent(measured)
    sound = source()
    if not silent:
        sound = (
            sound.filter(
                "loudnorm",
                I=target_lufs,
                TP=TRUE_PEAK_DB,
                LRA=11,
                linear="true",
                measured_I=measured["input_i"],
                measured_TP=measured["input_tp"],
                measured_LRA=measured["input_lra"],
                measured_thresh=measured["input_thresh"],
                offset=measured["target_offset"],
            )
            .filter("aresample", spec.audio_rate)
            .filter("atrim", end_sample=samples)
        )
    _mux(programme, sound, out, spec, what)
    if silent:
        return AudioResult(path=out, mode=mode, loudness_lufs=None, normalized=False)
    loudness = measure_loudness(out)
    if abs(loudness - target_lufs) > TOLERANCE_LU:
        loudness = _nudge(out, target_lufs - loudness, spec, samples, what)
    return AudioResult(path=out, mode=mode, loudness_lufs=loudness, normalized=True)


def _mux(programme: Path, sound: Any, out: Path, spec: ConformSpec, what: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    video = ffmpeg.input(str(programme)).video
    graph = ffmpeg.output(
        video, sound, str(out), **{"c:v": "copy"}, **spec.audio_args(), movflags="+faststart"
    )
    run_ffmpeg(graph, what=what)


def _nudge(path: Path, gain_db: float, spec: ConformSpec, samples: int, what: str) -> float:
    """Apply a plain gain to ``path``'s audio in place (video copied) and return the new loudness."""
    fixed = path.with_name(path.stem + ".gain" + path.suffix)
    sound = (
        ffmpeg.input(str(path))
        .audio.filter("volume", f"{gain_db:.2f}dB")
        .filter("alimiter", limit=10 ** (TRUE_PEAK_DB / 20), level="disabled", latency=1)  # no lookahead delay
        .filter("atrim", end_sample=samples)
    )
    _mux(path, sound, fixed, spec, what + " (gain correction)")
    fixed.replace(path)
    return measure_loudness(path)
