"""Clips to finished deliverable: conform, stitch, programme audio, renditions, poster and contact sheet.

This is the one entry point the ``deliverable`` asset calls. It encodes each frame once where it can:

- ``cut``: clips that already conform are used as they are; the others are conformed in parallel; then the
  concat demuxer joins them with the video stream-copied (``stream_copied`` is True only when no clip needed
  conforming, i.e. the programme's video is the generated bitstream untouched).
- ``crossfade`` / ``fade_black``: no separate conform step; ``stitch`` conforms every clip inside its single
  encode of the whole programme (conforming first would encode every frame twice).

The audio step re-encodes only the audio; a rendition in the master's shape is a byte copy of the programme.
Intermediate files live in ``work_dir/_work`` and are removed on success; outputs sit in ``work_dir``.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from media_pipeline.campaign import DeliverableSpec
from media_pipeline.media.audio import programme_audio
from media_pipeline.media.conform import ConformSpec, conform, is_conformant
from media_pipeline.media.errors import MediaError
from media_pipeline.media.frames import poster as write_poster
from media_pipeline.media.probe import MediaInfo, probe
from media_pipeline.media.renditions import rendition
from media_pipeline.media.sheet import contact_sheet
from media_pipeline.media.stitch import copy_compatible, stitch


class RenditionFile(BaseModel):
    """One finished video file: its aspect, path and measured size and duration."""

    aspect: str
    path: Path
    width: int
    height: int
    duration: float


class MasterFile(BaseModel):
    """The master (first rendition) with its full probe, for checks and metadata."""

    aspect: str
    path: Path
    info: MediaInfo


class Assembly(BaseModel):
    """Every file ``assemble`` produced and the facts about how it was made."""

    master: MasterFile
    renditions: list[RenditionFile]
    poster: Path
    contact_sheet: Path
    stream_copied: bool
    conformed_shots: list[str]
    loudness_lufs: float | None
    duration: float
    transition_seconds: float
    shot_offsets: dict[str, float]


def _label(name: str, path: Path) -> str:
    return f"shot {name!r} ({path})"


def _suffix(aspect: str) -> str:
    return aspect.replace(":", "x")


def _check_inputs(clips: list[tuple[str, Path]]) -> list[MediaInfo]:
    if not clips:
        raise MediaError("assemble: no clips given")
    names = [name for name, _ in clips]
    if len(set(names)) != len(names):
        raise MediaError(f"assemble: shot names repeat: {names}")
    infos = []
    for name, path in clips:
        if not Path(path).is_file():
            raise MediaError(f"{_label(name, path)}: clip file does not exist")
        info = probe(Path(path), _label(name, path))
        if not info.video_codec:
            raise MediaError(f"{_label(name, path)}: clip has no video stream")
        infos.append(info)
    return infos


def _conform_all(
    clips: list[tuple[str, Path]], indices: list[int], work: Path, spec: ConformSpec
) -> dict[int, Path]:
    """Conform the clips at ``indices`` in parallel (one ffmpeg each, at most one per core)."""

    def one(index: int) -> Path:
        name, path = clips[index]
        try:
            return conform(Path(path), work / f"{index:03d}_{name}.mp4", spec)
        except MediaError as exc:
            raise MediaError(f"{_label(name, path)}: {exc}") from exc

    if not indices:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(indices), os.cpu_count() or 1))) as pool:
        return dict(zip(indices, pool.map(one, indices), strict=True))


def _poster_time(
    spec: DeliverableSpec, offsets: dict[str, float], durations: dict[str, float], total: float, fps: int
) -> float:
    """Seconds into the programme for the poster frame (see ``PosterChoice``), kept inside the programme.

    Without a choice it is the middle of the programme's middle shot, clear of transitions.
    """
    choice = spec.poster
    if choice.shot is not None:
        if choice.shot not in offsets:
            raise MediaError(f"poster.shot {choice.shot!r} is not one of the shots {list(offsets)}")
        into = choice.at if choice.at is not None else durations[choice.shot] / 2
        at = offsets[choice.shot] + min(into, durations[choice.shot] - 1 / fps)
    elif choice.at is not None:
        at = choice.at
    else:
        at = _clean_middle(offsets, durations, total, spec.transition_seconds if spec.transition != "cut" else 0.0)
    return max(0.0, min(at, total - 1 / fps))


def _clean_middle(offsets: dict[str, float], durations: dict[str, float], total: float, overlap: float) -> float:
    """The middle of the shot holding the programme's midpoint, away from its transitions (no double exposure)."""
    names = list(offsets)
    middle = total / 2
    index = max(i for i, name in enumerate(names) if offsets[name] <= middle)
    name = names[index]
    start = offsets[name] + (overlap if index > 0 else 0.0)
    end = offsets[name] + durations[name] - (overlap if index < len(names) - 1 else 0.0)
    return (start + end) / 2 if end > start else middle


def assemble(
    clips: list[tuple[str, Path]],
    work_dir: Path,
    *,
    spec: DeliverableSpec,
    name: str,
    width: int,
    height: int,
    soundtrack: Path | None = None,
) -> Assembly:
    """Make the deliverable of ``clips`` (``(shot name, clip path)`` in shot order) inside ``work_dir``.

    Outputs: ``<name>.mp4`` (the first of ``spec.renditions``, the master), ``<name>_<aspect>.mp4`` for
    the others (e.g. ``<name>_9x16.mp4``), ``<name>_poster.jpg`` and ``<name>_contact_sheet.png``. The
    programme is ``width`` x ``height`` at ``spec.fps``; renditions keep its short side. Errors are
    ``MediaError`` naming the shot and file.
    """
    work_dir = Path(work_dir)
    scratch = work_dir / "_work"
    scratch.mkdir(parents=True, exist_ok=True)
    cspec = ConformSpec(width=width, height=height, fps=spec.fps)
    infos = _check_inputs(clips)
    names = [shot for shot, _ in clips]
    paths = [Path(path) for _, path in clips]
    conformed: dict[int, Path] = {}
    if spec.transition == "cut" or round(spec.transition_seconds * spec.fps) == 0:
        pending = [i for i, info in enumerate(infos) if not is_conformant(info, cspec)]
        conformed = _conform_all(clips, pending, scratch, cspec)
        paths = [conformed.get(i, p) for i, p in enumerate(paths)]
        if not copy_compatible(
            paths
        ):  # conformant, but encoded with other settings than ours: align them all
            rest = [i for i in range(len(paths)) if i not in conformed]
            conformed |= _conform_all(clips, rest, scratch, cspec)
            paths = [conformed.get(i, p) for i, p in enumerate(paths)]
    stitched = stitch(
        paths,
        scratch / "stitched.mov",
        transition=spec.transition,
        transition_seconds=spec.transition_seconds,
        spec=cspec,
        audio=spec.audio,  # muted: the clips' sound is not decoded only to be replaced
        names=names,
    )
    sound = programme_audio(
        stitched.path,
        scratch / "programme.mp4",
        audio=spec.audio,
        soundtrack=Path(soundtrack) if soundtrack else None,
        spec=cspec,
    )

    def make(index_aspect: tuple[int, str]) -> RenditionFile:
        index, aspect = index_aspect
        out = work_dir / (f"{name}.mp4" if index == 0 else f"{name}_{_suffix(aspect)}.mp4")
        rendition(sound.path, out, aspect=aspect, fit=spec.fit)
        info = probe(out)
        return RenditionFile(
            aspect=aspect, path=out, width=info.width, height=info.height, duration=info.video_duration
        )

    with ThreadPoolExecutor(max_workers=max(1, min(len(spec.renditions), os.cpu_count() or 1))) as pool:
        renditions = list(pool.map(make, enumerate(spec.renditions)))
    master = renditions[0]
    offsets = dict(zip(names, stitched.shot_offsets, strict=True))
    durations = dict(zip(names, stitched.shot_durations, strict=True))
    at = _poster_time(spec, offsets, durations, master.duration, spec.fps)
    poster = write_poster(master.path, work_dir / f"{name}_poster.jpg", at=at)
    sheet = contact_sheet(
        list(zip(names, [Path(p) for _, p in clips], strict=True)), work_dir / f"{name}_contact_sheet.png"
    )
    result = Assembly(
        master=MasterFile(aspect=master.aspect, path=master.path, info=probe(master.path)),
        renditions=renditions,
        poster=Path(poster),
        contact_sheet=sheet,
        stream_copied=stitched.stream_copied and not conformed,
        conformed_shots=[names[i] for i in sorted(conformed)],
        loudness_lufs=sound.loudness_lufs,
        duration=master.duration,
        transition_seconds=stitched.transition_seconds,
        shot_offsets=offsets,
    )
    shutil.rmtree(scratch, ignore_errors=True)
    return result
