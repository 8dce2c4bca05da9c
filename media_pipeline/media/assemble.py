"""Clips to finished deliverable: smart-rendered master and renditions, one sound track, poster, contact sheet.

This is the one entry point the ``deliverable`` asset calls, with its own ``AssemblySpec`` (``media/`` knows
no manifest). It encodes as little as it can:

- picture: every output (the master and each rendition) is joined from the same segments of the timeline:
  stretches of single clips and transition windows (see ``stitch``). The master stream-copies every clip that
  already has our encoding and re-encodes only the windows; a rendition encodes each clip and window once at
  its own size. Each segment is one ffmpeg run decoding its sources once for every output that lacks it,
  in parallel up to the cores, and is kept in ``spec.cache_dir`` by content: a re-run with one changed shot
  re-encodes that shot and its transitions only.
- sound: mixed once for the programme (audio only), loudness measured in that same pass, one gain to -16 LUFS,
  AAC encoded once and stream-copied into every output.

Intermediate files live in ``work_dir/_work`` and are removed on success; outputs sit in ``work_dir``.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from media_pipeline.media.audio import Loudness, encode_sound, mix_sound, mux
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.errors import MediaError
from media_pipeline.media.frames import poster as write_poster
from media_pipeline.media.probe import MediaInfo, probe
from media_pipeline.media.renditions import Fit, rendition_size
from media_pipeline.media.segments import Output, Source, Transition, prune, render
from media_pipeline.media.sheet import contact_sheet
from media_pipeline.media.stitch import load_sources, prepare
from media_pipeline.media.timeline import Timeline


class PosterAt(BaseModel):
    """Which frame becomes the poster: ``at`` seconds into ``shot``, or into the programme; by default the
    middle of the programme's middle shot, clear of transitions."""

    shot: str | None = None
    at: float | None = Field(default=None, ge=0)


class AssemblySpec(BaseModel):
    """Everything ``assemble`` needs to know about the deliverable (the manifest's fields plus the frame)."""

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    fps: Fraction = Fraction(24)
    transition: Transition = "cut"
    transition_seconds: float = Field(default=0.5, ge=0.0)
    renditions: list[str] = Field(default_factory=lambda: ["16:9"], min_length=1)
    fit: Fit = "crop"
    audio: Literal["keep", "mute"] = "keep"
    poster: PosterAt = Field(default_factory=PosterAt)
    cache_dir: Path | None = Field(default=None, description="encoded segments kept by content between runs")


class RenditionFile(BaseModel):
    """One finished video file: its aspect, path, measured size and duration, and its probe."""

    aspect: str
    path: Path
    width: int
    height: int
    duration: float
    info: MediaInfo


class Assembly(BaseModel):
    """Every file ``assemble`` produced and the facts about how it was made.

    ``copied_frames`` of the master's picture were stream-copied from the clips and ``encoded_frames`` were
    re-encoded; ``encoded_segments`` were encoded on this run and ``cached_segments`` came from the cache.
    ``loudness_lufs`` is the level the sound was set to and ``measured_lufs`` what the mix measured before.
    """

    master: RenditionFile
    renditions: list[RenditionFile]
    poster: Path
    contact_sheet: Path
    stream_copied: bool
    conformed_shots: list[str]
    copied_frames: int
    encoded_frames: int
    encoded_segments: int
    cached_segments: int
    loudness_lufs: float | None
    measured_lufs: float | None
    duration: float
    transition_seconds: float
    shot_offsets: dict[str, float]


def _suffix(aspect: str) -> str:
    return aspect.replace(":", "x")


def _poster_time(spec: AssemblySpec, offsets: dict[str, float], durations: dict[str, float], total: float) -> float:
    """Seconds into the programme for the poster frame, kept inside the programme."""
    frame = float(1 / spec.fps)
    choice = spec.poster
    if choice.shot is not None:
        if choice.shot not in offsets:
            raise MediaError(f"poster.shot {choice.shot!r} is not one of the shots {list(offsets)}")
        into = choice.at if choice.at is not None else durations[choice.shot] / 2
        at = offsets[choice.shot] + min(into, durations[choice.shot] - frame)
    elif choice.at is not None:
        at = choice.at
    else:
        overlap = spec.transition_seconds if spec.transition != "cut" else 0.0
        at = _clean_middle(offsets, durations, total, overlap)
    return max(0.0, min(at, total - frame))


def _clean_middle(offsets: dict[str, float], durations: dict[str, float], total: float, overlap: float) -> float:
    """The middle of the shot holding the programme's midpoint, away from its transitions (no double exposure)."""
    names = list(offsets)
    middle = total / 2
    index = max(i for i, name in enumerate(names) if offsets[name] <= middle)
    name = names[index]
    start = offsets[name] + (overlap if index > 0 else 0.0)
    end = offsets[name] + durations[name] - (overlap if index < len(names) - 1 else 0.0)
    return (start + end) / 2 if end > start else middle


def _sound(
    sources: list[Source],
    timeline: Timeline,
    scratch: Path,
    spec: ConformSpec,
    transition: Transition,
    audio: Literal["keep", "mute"],
    soundtrack: Path | None,
) -> tuple[Loudness, float | None]:
    """The programme's sound mixed and measured in one pass, then gained and encoded once (``scratch/sound.m4a``)."""
    clips = [(s.path, s.info) for s in sources]
    wav = scratch / "sound.wav"
    measured = mix_sound(
        clips,
        list(timeline.frames),
        wav,
        spec=spec,
        transition=transition,
        overlap=timeline.transition,
        audio=audio,
        soundtrack=soundtrack,
    )
    return measured, encode_sound(wav, measured, scratch / "sound.m4a", spec=spec)


def _outputs(spec: AssemblySpec, master: ConformSpec) -> list[Output]:
    """One output per rendition, each reframed from the programme's frame; the one in the programme's own size
    stream-copies the clips."""
    outputs = []
    for aspect in spec.renditions:
        size = rendition_size(spec.width, spec.height, aspect)
        copies = size == (spec.width, spec.height)
        outputs.append(Output(name=aspect, spec=master.sized(*size), fit=spec.fit, copies_clips=copies))
    return outputs


def assemble(
    clips: list[tuple[str, Path]],
    work_dir: Path,
    *,
    spec: AssemblySpec,
    name: str,
    soundtrack: Path | None = None,
    digests: dict[str, str] | None = None,
) -> Assembly:
    """Make the deliverable of ``clips`` (``(shot name, clip path)`` in shot order) inside ``work_dir``.

    Outputs: ``<name>.mp4`` (the first of ``spec.renditions``, the master, ``spec.width`` x ``spec.height`` at
    ``spec.fps``), ``<name>_<aspect>.mp4`` for the others (e.g. ``<name>_9x16.mp4``, keeping the master's short
    side), ``<name>_poster.jpg`` and ``<name>_contact_sheet.png``. Errors are ``MediaError`` naming shot and file.
    ``digests`` (shot -> SHA-256 of its clip), when the caller has them, spare hashing the clips again.
    """
    if not clips:
        raise MediaError("assemble: no clips given")
    names = [shot for shot, _ in clips]
    if len(set(names)) != len(names):
        raise MediaError(f"assemble: shot names repeat: {names}")
    work_dir = Path(work_dir)
    scratch = work_dir / "_work"
    scratch.mkdir(parents=True, exist_ok=True)
    master = ConformSpec(width=spec.width, height=spec.height, fps=spec.fps)
    sources = load_sources(clips, master, digests)
    timeline = prepare(sources, master, spec.transition, spec.transition_seconds)
    transition = spec.transition if timeline.transition else "cut"
    cache_dir = Path(spec.cache_dir) if spec.cache_dir else scratch / "segments"
    outputs = _outputs(spec, master)
    offsets = {n: master.seconds(o) for n, o in zip(names, timeline.offsets, strict=True)}
    durations = {n: master.seconds(f) for n, f in zip(names, timeline.frames, strict=True)}
    at = _poster_time(spec, offsets, durations, master.seconds(timeline.total))
    # sound (audio only) and contact sheet (the clips' first and last frames) overlap the picture work
    with ThreadPoolExecutor(max_workers=2) as background:
        sound = background.submit(
            _sound, sources, timeline, scratch, master, transition, spec.audio, Path(soundtrack) if soundtrack else None
        )
        sheet = background.submit(
            contact_sheet,
            [(s.name, s.path, s.info.video_duration) for s in sources],
            work_dir / f"{name}_contact_sheet.png",
        )
        pictures, encoded, cached = render(timeline, sources, outputs, transition, cache_dir, master, scratch)
        poster = write_poster(pictures[outputs[0].name], work_dir / f"{name}_poster.jpg", at=at)
        measured, level = sound.result()
        sheet.result()
    files = []
    for index, output in enumerate(outputs):
        out = work_dir / (f"{name}.mp4" if index == 0 else f"{name}_{_suffix(output.name)}.mp4")
        mux(pictures[output.name], scratch / "sound.m4a", out)
        info = probe(out)
        files.append(
            RenditionFile(
                aspect=output.name,
                path=out,
                width=info.width,
                height=info.height,
                duration=info.video_duration,
                info=info,
            )
        )
    copied = sum(p.frames for p in timeline.pieces if sources[p.clip].copyable) if outputs[0].copies_clips else 0
    result = Assembly(
        master=files[0],
        renditions=files,
        poster=Path(poster),
        contact_sheet=sheet.result(),
        stream_copied=copied == timeline.total,
        conformed_shots=[s.name for s in sources if not s.copyable],
        copied_frames=copied,
        encoded_frames=timeline.total - copied,
        encoded_segments=encoded,
        cached_segments=cached,
        loudness_lufs=level,
        measured_lufs=measured.integrated,
        duration=files[0].duration,
        transition_seconds=master.seconds(timeline.transition),
        shot_offsets=offsets,
    )
    if spec.cache_dir:
        prune(cache_dir)
    shutil.rmtree(scratch, ignore_errors=True)
    return result
