"""Join clips in shot order into one programme: hard cuts, crossfades or fades through black, sound included.

Smart rendering: every stretch of picture that shows one clip's own frames is stream-copied from that clip, and
only the transition windows (widened to the clip's keyframes when they are not where the transition needs
them) are re-encoded, with exactly the encoder configuration of the clips so the result is one conformant
H.264 stream (see ``timeline``, ``segments`` and ``join``). A clip that does not conform, or was encoded with
other settings, is conformed once (cached by content) with keyframes where its transitions need them. A cut of
conformant clips re-encodes nothing. The sound is mixed once for the whole programme, audio only, and muxed.

``load_sources`` / ``prepare`` are the steps ``assemble`` shares; ``stitch`` makes one finished programme file.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Literal

import ffmpeg
from pydantic import BaseModel

from media_pipeline.media.audio import encode_sound, mix_sound, mux
from media_pipeline.media.conform import AudioMode, ConformSpec, encoder_input, source_frames
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg
from media_pipeline.media.files import file_digest
from media_pipeline.media.probe import probe
from media_pipeline.media.segments import Output, Source, render
from media_pipeline.media.timeline import Timeline, plan

Transition = Literal["cut", "crossfade", "fade_black"]


class StitchResult(BaseModel):
    """What ``stitch`` made: the file, how much of its picture was copied, where each clip starts and lasts.

    ``stream_copied`` is True when no frame was re-encoded (a cut of conformant clips). ``shot_durations`` are
    the conformed clip lengths; with transitions neighbouring shots overlap by ``transition_seconds``.
    """

    path: Path
    stream_copied: bool
    copied_frames: int
    encoded_frames: int
    duration: float
    transition: Transition
    transition_seconds: float
    shot_offsets: list[float]
    shot_durations: list[float]


@functools.cache
def _encoder_config(spec_json: str) -> str:
    spec = ConformSpec.model_validate_json(spec_json)
    with tempfile.TemporaryDirectory(prefix="encoder-config-") as tmp:
        out = Path(tmp) / "reference.mp4"
        colour = ffmpeg.input(f"color=c=gray:s={spec.width}x{spec.height}:r={spec.fps}", f="lavfi")
        graph = ffmpeg.output(encoder_input(colour.video), str(out), **spec.video_args(), vframes=2)
        run_ffmpeg(graph, what=f"reference encode for {spec.width}x{spec.height}@{spec.fps}")
        config = probe(out).video_config
    assert config is not None
    return config


def encoder_config(spec: ConformSpec) -> str:
    """The ``MediaInfo.video_config`` our encoder writes for ``spec``: clips that carry it can be stream-copied."""
    return _encoder_config(spec.model_dump_json())


def load_sources(
    clips: list[tuple[str, Path]], spec: ConformSpec, digests: dict[str, str] | None = None
) -> list[Source]:
    """Probe every clip once (keyframes included) and decide which can be stream-copied into the programme.

    ``digests`` (shot -> SHA-256 of its clip) are the content hashes a caller already has; others are computed."""
    config = encoder_config(spec)
    sources = []
    for name, path in clips:
        path = Path(path)
        label = f"shot {name!r} ({path})"
        if not path.is_file():
            raise MediaError(f"{label}: clip file does not exist")
        info = probe(path, label, keyframes=True)
        if not info.video_codec:
            raise MediaError(f"{label}: clip has no video stream")
        copyable = (
            info.video_config == config
            and abs(info.fps - float(spec.fps)) < 1e-3
            and info.frame_count == source_frames(info, spec)
        )
        digest = digests[name] if digests and name in digests else file_digest(path)
        sources.append(Source(name=name, path=path, info=info, digest=digest, copyable=copyable))
    return sources


def prepare(sources: list[Source], spec: ConformSpec, transition: Transition, seconds: float) -> Timeline:
    """The programme's timeline; ``seconds`` is rounded to whole frames. Clips must outlast their transitions."""
    frames = [source_frames(s.info, spec) for s in sources]
    overlap = round(seconds * spec.fps) if transition != "cut" and len(sources) > 1 else 0
    for i, (source, n) in enumerate(zip(sources, frames, strict=True)):
        needed = overlap * (1 if i in (0, len(frames) - 1) else 2)
        if n < needed:
            raise MediaError(
                f"{source.label}: {spec.seconds(n):.2f} s is too short for {seconds} s transitions "
                f"(needs {spec.seconds(needed):.2f} s)"
            )
    keyframes = [s.info.keyframe_frames(float(spec.fps)) if s.copyable else None for s in sources]
    return plan(frames, overlap, keyframes)


def stitch(
    clips: list[Path],
    out: Path,
    *,
    transition: Transition = "cut",
    transition_seconds: float = 0.5,
    spec: ConformSpec,
    audio: AudioMode = "keep",
    names: list[str] | None = None,
    cache_dir: Path | None = None,
) -> StitchResult:
    """Join ``clips`` in order into ``out`` (MP4, H.264 + AAC at ``spec``), smart-rendered (see the module doc).

    The programme lasts the sum of the clips' (conformed) durations for ``cut``, and that minus
    ``(n - 1) * transition_seconds`` for ``crossfade`` and ``fade_black``, to the frame; sound lasts exactly as
    long as picture. ``names`` (one per clip) make errors name the shot. A transition needs the first and last
    clips one transition long, the others two. ``cache_dir`` keeps encoded segments for the next run.
    """
    if not clips:
        raise MediaError(f"stitch to {out}: no clips given")
    out = Path(out)
    labels = names or [f"clip {i + 1}" for i in range(len(clips))]
    sources = load_sources(list(zip(labels, map(Path, clips), strict=True)), spec)
    timeline = prepare(sources, spec, transition, transition_seconds)
    if timeline.transition == 0:
        transition = "cut"
    with tempfile.TemporaryDirectory(prefix="stitch-", dir=out.parent) as tmp:
        work = Path(tmp)
        master = Output(name="master", spec=spec, copies_clips=True)
        video = render(timeline, sources, [master], transition, cache_dir or work, spec, work)[0]["master"]
        clip_sounds = [(s.path, s.info) for s in sources]
        loudness = mix_sound(
            clip_sounds,
            list(timeline.frames),
            work / "sound.wav",
            spec=spec,
            transition=transition,
            overlap=timeline.transition,
            audio=audio,
        )
        encode_sound(work / "sound.wav", loudness, work / "sound.m4a", spec=spec, target_lufs=None)
        mux(video, work / "sound.m4a", out)
    copied = sum(p.frames for p in timeline.pieces if sources[p.clip].copyable)
    return StitchResult(
        path=out,
        stream_copied=copied == timeline.total,
        copied_frames=copied,
        encoded_frames=timeline.total - copied,
        duration=probe(out).video_duration,
        transition=transition,
        transition_seconds=spec.seconds(timeline.transition),
        shot_offsets=[spec.seconds(o) for o in timeline.offsets],
        shot_durations=[spec.seconds(n) for n in timeline.frames],
    )
