"""The clips of a programme as smart rendering sees them, and the programme's timeline.

``load_sources`` probes every clip once (keyframes included) and decides which can be stream-copied: a clip whose
H.264 parameter sets are exactly the ones our encoder writes for the spec (``encoder_config``), at the spec's
rate, with the frames the spec expects. ``prepare`` lays the clips out (``timeline.plan``): every stretch that
shows one copyable clip's own frames is copied; only transition windows (widened to the clip's keyframes when they
are not where the transition needs them) and clips that must be conformed are encoded (``segments``). Both are
the first steps of ``assemble``.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import ffmpeg

from media_pipeline.media.conform import ConformSpec, encoder_input, source_frames
from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg
from media_pipeline.media.files import file_digest
from media_pipeline.media.probe import probe
from media_pipeline.media.segments import Source, Transition
from media_pipeline.media.timeline import Timeline, plan


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
