"""Programme sound: mixed once for the whole timeline, measured in the same pass, set to -16 LUFS in one gain.

Only sound is decoded here, never picture. ``mix_sound`` builds the programme's sound from the clips with the
same frame arithmetic as the picture (crossfades as ``acrossfade``, fades through black down to silence and up
again, cuts as a concat), optionally under or instead of a soundtrack, and writes it as float PCM while
``ebur128`` measures its integrated loudness and true peak on the same samples: one analysis. ``encode_sound``
then applies one gain (with a peak limiter only when the gain would push peaks, plus a 1 dB allowance for peaks
between samples, past -1.5 dBTP) and encodes AAC once, in pieces on every core (``aac``); every output muxes
that track by stream copy. Modes:

- ``keep``: the clips' sound. ``mute``: silence of the programme's length (never normalised: silence stays
  silent). A ``soundtrack`` file is looped or trimmed to the programme with a fade in and out; with ``mute`` it
  replaces the clips' sound, with ``keep`` it is mixed ``bed_db`` (-8 dB) under it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import ffmpeg
from pydantic import BaseModel

from media_pipeline.media.aac import encode_aac
from media_pipeline.media.conform import ConformSpec, clip_sound, silence
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg, split_repeats
from media_pipeline.media.files import atomic_path
from media_pipeline.media.probe import MediaInfo

TARGET_LUFS = -16.0
TRUE_PEAK_DB = -1.5
SILENT_LUFS = -69.0  # ebur128 reports -70 LUFS (its absolute gate) for silence

_INTEGRATED = re.compile(r"Integrated loudness:\s*I:\s*(-?[\d.]+|-inf)\s*LUFS", re.S)
_PEAK = re.compile(r"Sample peak:\s*Peak:\s*(-?[\d.]+|-inf)\s*dBFS", re.S)
PEAK_MARGIN_DB = 1.0  # true peaks (between samples) run up to about this much above the sample peak


class Loudness(BaseModel):
    """The one measurement of a programme's sound: integrated loudness (None when silent) and sample peak."""

    integrated: float | None
    peak: float | None

    @property
    def silent(self) -> bool:
        return self.integrated is None


def _parse(stderr: str, what: str) -> Loudness:
    found, peak = _INTEGRATED.findall(stderr), _PEAK.findall(stderr)
    if not found:
        raise MediaError(f"{what}: no ebur128 summary (does it have audio?)")
    value = found[-1]
    if value == "-inf" or float(value) <= SILENT_LUFS:
        return Loudness(integrated=None, peak=None)
    return Loudness(integrated=float(value), peak=float(peak[-1]) if peak and peak[-1] != "-inf" else None)


def measure_loudness(path: Path) -> float:
    """Integrated loudness of ``path``'s first audio track in LUFS (ebur128 summary; -70.0 for silence)."""
    path = Path(path)
    graph = ffmpeg.input(str(path), vn=None).audio.filter("ebur128").output("-", f="null")
    measured = _parse(run_ffmpeg(graph, what=f"measure loudness of {path}", loglevel="info"), str(path))
    return -70.0 if measured.integrated is None else measured.integrated


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


def _timeline(parts: list[Any], frames: list[int], transition: str, overlap: int, spec: ConformSpec) -> Any:
    """The clips' sounds joined like the pictures: concat for cuts, overlapping by ``overlap`` frames else."""
    parts = split_repeats(parts, "asplit")
    if overlap == 0 or len(parts) == 1:
        return ffmpeg.concat(*parts, v=0, a=1) if len(parts) > 1 else parts[0]
    seconds = overlap / spec.fps
    sound, length = parts[0], frames[0]
    for part, n in zip(parts[1:], frames[1:], strict=True):
        if transition == "crossfade":
            sound = ffmpeg.filter([sound, part], "acrossfade", ns=spec.samples(overlap), c1="tri", c2="tri")
        else:  # down to silence over the first half of the join, up from silence over the second
            half = float(seconds / 2)
            sound = sound.filter("afade", t="out", st=float((length - overlap) / spec.fps), d=half)
            part = part.filter("afade", t="in", st=half, d=half)
            sound = ffmpeg.filter([sound, part], "acrossfade", ns=spec.samples(overlap), c1="nofade", c2="nofade")
        length += n - overlap
    return sound


def mix_sound(
    clips: list[tuple[Path, MediaInfo]],
    frames: list[int],
    out_wav: Path,
    *,
    spec: ConformSpec,
    transition: str = "cut",
    overlap: int = 0,
    audio: Literal["keep", "mute"] = "keep",
    soundtrack: Path | None = None,
    bed_db: float = -8.0,
    fade_seconds: float = 1.0,
) -> Loudness:
    """Write the programme's sound to ``out_wav`` (float PCM) and return its loudness, measured in the same run."""
    total = sum(frames) - overlap * (len(frames) - 1)
    samples, seconds = spec.samples(total), spec.seconds(total)
    if soundtrack is not None and not Path(soundtrack).is_file():
        raise MediaError(f"soundtrack {soundtrack} does not exist")
    own = None
    if audio == "keep" and any(info.has_audio for _, info in clips):
        parts = [clip_sound(path, info, spec, audio, n) for (path, info), n in zip(clips, frames, strict=True)]
        own = _timeline(parts, frames, transition, overlap, spec)
    if soundtrack is None:
        sound = own if own is not None else silence(spec, total)
    elif own is None:
        sound = _bed(Path(soundtrack), spec, samples, seconds, fade_seconds)
    else:
        bed = _bed(Path(soundtrack), spec, samples, seconds, fade_seconds).filter("volume", f"{bed_db}dB")
        sound = ffmpeg.filter([own, bed], "amix", inputs=2, duration="first", normalize=0)
    sound = sound.filter("apad").filter("atrim", end_sample=samples).filter("asetpts", "PTS-STARTPTS")
    copies = sound.filter_multi_output("asplit", 2)
    with atomic_path(out_wav) as tmp:
        written = ffmpeg.output(copies[0], str(tmp), **{"c:a": "pcm_f32le"}, ar=spec.audio_rate)
        measured = ffmpeg.output(copies[1].filter("ebur128", peak="sample"), "-", f="null")
        what = f"programme sound {out_wav}"
        stderr = run_ffmpeg(ffmpeg.merge_outputs(written, measured), what=what, loglevel="info")
    return _parse(stderr, what)


def encode_sound(
    wav: Path,
    loudness: Loudness,
    out: Path,
    *,
    spec: ConformSpec,
    target_lufs: float | None = TARGET_LUFS,
    pieces: int | None = None,
) -> float | None:
    """Encode ``wav`` to AAC at ``out`` (.m4a), gained to ``target_lufs`` (None: as it is), in ``pieces`` at once
    (``aac.encode_aac``; None: one per core); returns the level set (None when silent or not normalised)."""
    if loudness.silent or target_lufs is None:
        encode_aac(wav, out, spec=spec, pieces=pieces)
        return None
    gain = target_lufs - (loudness.integrated or 0.0)
    limit = (loudness.peak if loudness.peak is not None else 0.0) + gain + PEAK_MARGIN_DB > TRUE_PEAK_DB

    def gained(sound: Any) -> Any:
        sound = sound.filter("volume", f"{gain:.2f}dB")
        if limit:
            sound = sound.filter("alimiter", limit=10 ** (TRUE_PEAK_DB / 20), level="disabled", latency=1)
        return sound

    encode_aac(wav, out, spec=spec, chain=gained, pieces=pieces)
    return target_lufs


def mux(video: Path, sound: Path, out: Path) -> Path:
    """``video``'s picture with ``sound``'s audio in ``out``, both stream-copied (+faststart)."""
    with atomic_path(out) as tmp:
        picture, audio = ffmpeg.input(str(video)).video, ffmpeg.input(str(sound)).audio
        graph = ffmpeg.output(picture, audio, str(tmp), c="copy", movflags="+faststart")
        run_ffmpeg(graph, what=f"mux {out}")
    return out
