"""Encode the parts of a programme that cannot be stream-copied, once per content, for every output at once.

A *job* is one stretch of picture: a clip's piece (a clip that must be conformed, or any clip for a rendition)
or a transition window. Each job is one ffmpeg run that decodes its sources once and feeds one encoder per
output that needs it (the master and each rendition, reframed from the master's picture). Outputs share the
master's timeline, so every output is joined from the same segment boundaries.

A rendition with nothing cached yet is encoded whole from the finished master instead (see ``render``).

Results are files named by a digest of everything that determines their pixels (the clips' content hashes,
frame ranges, transition, the encoder specs), in ``cache_dir``: a re-run with one changed shot re-encodes
only that shot's piece and its two windows; every other segment is a cache hit.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from media_pipeline.media.conform import ConformSpec, conform_video, encoder_input, source_frames
from media_pipeline.media.cores import cores
from media_pipeline.media.ffmpeg import run_ffmpeg, split_repeats
from media_pipeline.media.files import atomic_path, text_digest
from media_pipeline.media.join import Segment, join, split
from media_pipeline.media.probe import MediaInfo
from media_pipeline.media.renditions import Fit, reframe
from media_pipeline.media.timeline import Piece, Timeline, Window

Transition = Literal["cut", "crossfade", "fade_black"]
XFADE = {"crossfade": "fade", "fade_black": "fadeblack"}
RECIPE = "segments-v1"  # bump when a change here changes the pixels a cached segment holds


@dataclass(frozen=True)
class Source:
    """One clip as the timeline uses it; ``copyable`` when its bitstream already has the master's encoding."""

    name: str
    path: Path
    info: MediaInfo
    digest: str
    copyable: bool

    @property
    def label(self) -> str:
        return f"shot {self.name!r} ({self.path})"


@dataclass(frozen=True)
class Output:
    """One video being built: ``spec`` is its size and encoder, ``fit`` how it is reframed from the master."""

    name: str
    spec: ConformSpec
    fit: Fit = "crop"
    copies_clips: bool = False  # the master: copyable clips are stream-copied into it


def clip_video(source: Source, spec: ConformSpec, first: int, end: int) -> Any:
    """Frames ``[first, end)`` of a clip at ``spec``. A copyable clip is constant rate at the spec's rate, so time
    and frame agree: it is seeked, not rescaled. Seeking to one of its keyframes decodes nothing before it; any
    other frame is reached by decoding from the keyframe before. A clip that is not copyable is conformed from
    its start."""
    if not source.copyable:
        chain = conform_video(ffmpeg.input(str(source.path)).video, spec, source_frames(source.info, spec))
        if first == 0:
            return chain.filter("trim", end_frame=end)
        return chain.filter("trim", start_frame=first, end_frame=end).filter("setpts", "PTS-STARTPTS")
    if first == 0:
        stream = ffmpeg.input(str(source.path))
    elif first in source.info.keyframe_frames(float(spec.fps)):  # just after it: the seek lands on it
        stream = ffmpeg.input(str(source.path), ss=f"{float((first + 0.25) / spec.fps):.6f}", noaccurate_seek=None)
    else:  # half a frame early: frame ``first`` is the first one kept
        stream = ffmpeg.input(str(source.path), ss=f"{float((first - 0.5) / spec.fps):.6f}")
    return (
        stream.video.filter("setpts", "PTS-STARTPTS")
        .filter("fps", str(spec.fps))
        .filter("trim", end_frame=end - first)
        .filter("setpts", "PTS-STARTPTS")
    )


def window_video(window: Window, timeline: Timeline, sources: list[Source], spec: ConformSpec, kind: str) -> Any:
    """The window's picture: its parts of the clips, joined by the transition ``kind`` (xfade's name)."""
    parts = split_repeats([clip_video(sources[c], spec, a, b) for c, a, b in window.parts], "split")
    video = None
    for (clip, _, _), part in zip(window.parts, parts, strict=True):
        if video is None:
            video = part
            continue
        offset = (timeline.offsets[clip] - window.start) / spec.fps
        video = ffmpeg.filter(
            [video, part],
            "xfade",
            transition=kind,
            duration=f"{float(timeline.transition / spec.fps):.6f}",
            offset=f"{float(offset):.6f}",
        )
    return video


@dataclass(frozen=True)
class _Job:
    key: str
    what: str
    picture: Callable[[], Any]
    frames: int


def _encode(job: _Job, outputs: list[tuple[Output, Path]], master: ConformSpec) -> None:
    """One ffmpeg run: decode the job's sources once, encode every output that is missing."""
    picture = job.picture()
    branches = picture.filter_multi_output("split", len(outputs)) if len(outputs) > 1 else None
    with contextlib.ExitStack() as stack:
        graphs = []
        for i, (output, path) in enumerate(outputs):
            video = branches[i] if branches is not None else picture
            if (output.spec.width, output.spec.height) != (master.width, master.height):
                video = reframe(video, output.spec.width, output.spec.height, output.fit)
            video = encoder_input(video)
            tmp = stack.enter_context(atomic_path(path))
            args = {**output.spec.video_args(), "frames:v": job.frames, "an": None, "movflags": "+faststart"}
            graphs.append(ffmpeg.output(video, str(tmp), **args))
        run_ffmpeg(ffmpeg.merge_outputs(*graphs), what=job.what)


def render(
    timeline: Timeline,
    sources: list[Source],
    outputs: list[Output],
    transition: Transition,
    cache_dir: Path,
    master: ConformSpec,
    work: Path,
) -> tuple[dict[str, Path], int, int]:
    """Every output's picture (video only, in ``work``), encoding what the cache lacks; also how many segments
    were encoded now and how many came whole from the cache.

    A rendition with nothing cached is encoded in one run from the finished master instead of segment by segment
    (one decode, one encoder start: ``bench_assemble`` measured it cheaper), then cut into its segments for the
    cache, so the next run with one changed shot re-encodes only that shot's segments.
    """
    kind = XFADE.get(transition, "fade")
    jobs: dict[str, tuple[_Job, list[tuple[Output, Path]]]] = {}
    joined: dict[str, list[Segment]] = {o.name: [] for o in outputs}
    needed: set[str] = set()
    for segment in timeline.segments():
        job = _job(segment, timeline, sources, master, kind)
        for output in outputs:
            if isinstance(segment, Piece) and output.copies_clips and sources[segment.clip].copyable:
                joined[output.name].append(Segment(sources[segment.clip].path, segment.start, segment.end))
                continue
            needed.add(job.key)
            path = cache_dir / f"{text_digest(job.key, output.spec.model_dump_json(), output.fit)}.mp4"
            joined[output.name].append(Segment(path, 0, job.frames))
            if path.is_file():
                os.utime(path)  # recently used: kept by ``prune``
            else:
                jobs.setdefault(job.key, (job, []))[1].append((output, path))
    encoded = len(jobs)
    base = next((o for o in outputs if o.copies_clips), None)
    cold = [o for o in outputs if base and o is not base and all(not s.path.is_file() for s in joined[o.name])]
    missing = [(job, [(o, p) for o, p in wanted if o not in cold]) for job, wanted in jobs.values()]
    missing = [(job, wanted) for job, wanted in missing if wanted]
    if missing:
        workers = max(1, min(len(missing), cores()))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda item: _encode(item[0], item[1], master), missing))
    pictures = {
        o.name: join(joined[o.name], work / f"{i}.video.mp4", master.fps)
        for i, o in enumerate(outputs)
        if o not in cold
    }
    if base is not None and cold:
        starts = [s.at if isinstance(s, Piece) else s.start for s in timeline.segments()]
        pictures |= _from_master(pictures[base.name], cold, joined, starts, timeline.total, work)
    return pictures, encoded, len(needed) - encoded


def _from_master(
    programme: Path, cold: list[Output], joined: dict[str, list[Segment]], starts: list[int], total: int, work: Path
) -> dict[str, Path]:
    """Encode the ``cold`` renditions from one decode of ``programme``, keyframes at every segment start, and
    store each segment's stretch of them under its cache name."""
    picture = ffmpeg.input(str(programme)).video
    branches = picture.filter_multi_output("split", len(cold)) if len(cold) > 1 else None
    made = {o.name: work / f"{o.name.replace(':', 'x')}.video.mp4" for o in cold}
    graphs = []
    for i, output in enumerate(cold):
        video = encoder_input(
            reframe(branches[i] if branches else picture, output.spec.width, output.spec.height, output.fit)
        )
        args = {**output.spec.video_args(starts), "frames:v": total, "an": None}
        graphs.append(ffmpeg.output(video, str(made[output.name]), **args))
    run_ffmpeg(ffmpeg.merge_outputs(*graphs), what=f"renditions {[o.name for o in cold]} of {programme}")
    for output in cold:
        pieces, at = [], 0
        for segment in joined[output.name]:
            pieces.append((at, at + segment.end, segment.path))
            at += segment.end
        split(made[output.name], pieces, output.spec.fps)
    return made


def prune(cache_dir: Path, max_age_days: float = 14.0) -> None:
    """Remove cached segments not used for ``max_age_days`` (every hit refreshes a file's time)."""
    cutoff = time.time() - max_age_days * 86400
    for path in Path(cache_dir).glob("*.mp4"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()


def _job(segment: Piece | Window, timeline: Timeline, sources: list[Source], master: ConformSpec, kind: str) -> _Job:
    base = (RECIPE, master.model_dump_json())
    if isinstance(segment, Piece):
        source = sources[segment.clip]
        return _Job(
            key=text_digest(*base, "piece", source.digest, source.copyable, segment.start, segment.end),
            what=f"{source.label}: encode frames {segment.start}..{segment.end}",
            picture=lambda: clip_video(source, master, segment.start, segment.end),
            frames=segment.frames,
        )
    parts = [
        (sources[c].digest, sources[c].copyable, a, b, timeline.offsets[c] - segment.start) for c, a, b in segment.parts
    ]
    names = ", ".join(sources[c].label for c, _, _ in segment.parts)
    return _Job(
        key=text_digest(*base, "window", kind, timeline.transition, parts),
        what=f"transition window {segment.start}..{segment.end} of {names}",
        picture=lambda: window_video(segment, timeline, sources, master, kind),
        frames=segment.frames,
    )
