"""Join clips in shot order into one programme: hard cuts, crossfades, or fades through black, audio included.

Cuts of clips that already conform (and share one H.264 configuration) are joined by the concat demuxer with
the video stream copied, no re-encode. Their audio is rebuilt with the concat filter from each clip decoded on
its own and re-encoded (cheap): copying AAC through the concat demuxer would carry each clip's encoder priming
into the join and drift the sound ~21 ms per cut. Everything else (crossfades, fades, clips that do not
conform) is one ffmpeg run for the whole programme: every input conformed inline, then an ``xfade`` /
``acrossfade`` chain or a ``concat`` filter, encoded once.

Written to ``.mp4`` the programme is finished (AAC audio). Written to ``.mov`` or ``.mkv`` its audio is kept as
lossless PCM: ``assemble`` does that because its audio step re-encodes the sound anyway (loudness), so AAC is
encoded once, and a cut of conformant clips then costs no encode at all, only decoding the clips' audio.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

import av
import ffmpeg
from pydantic import BaseModel

from media_pipeline.media.conform import (
    AudioMode,
    ConformSpec,
    conform_streams,
    fit_audio,
    is_conformant,
    run_ffmpeg,
    silence,
    source_frames,
)
from media_pipeline.media.errors import MediaError
from media_pipeline.media.probe import probe

Transition = Literal["cut", "crossfade", "fade_black"]
PCM_SUFFIXES = (".mov", ".mkv")


class StitchResult(BaseModel):
    """What ``stitch`` made: the file, whether its video was stream-copied, where each clip starts and lasts.

    ``shot_durations`` are the conformed clip lengths; with transitions neighbouring shots overlap by
    ``transition_seconds``.
    """

    path: Path
    stream_copied: bool
    duration: float
    transition: Transition
    transition_seconds: float
    shot_offsets: list[float]
    shot_durations: list[float]


def _audio_args(spec: ConformSpec, out: Path) -> dict[str, object]:
    """AAC for a finished ``.mp4``; lossless PCM in a ``.mov``/``.mkv`` intermediate whose audio is redone later."""
    if out.suffix.lower() in PCM_SUFFIXES:
        return {"c:a": "pcm_s16le", "ar": spec.audio_rate, "ac": spec.channels}
    return spec.audio_args()


def _label(names: list[str] | None, index: int, path: Path) -> str:
    return f"shot {names[index]!r} ({path})" if names else f"clip {index + 1} ({path})"


def video_signature(path: Path) -> tuple[str, int, int, bytes]:
    """Codec, size and H.264 parameter sets of a clip: clips with equal ones can be stream-copied together."""
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b"")


def copy_compatible(paths: list[Path]) -> bool:
    """True when all clips carry the same H.264 configuration, so one header describes the joined stream."""
    return len({video_signature(path) for path in paths}) == 1


def _concat_list(paths: list[Path], dest: Path) -> Path:
    def quoted(path: Path) -> str:
        return "'" + str(path.resolve()).replace("'", "'\\''") + "'"

    dest.write_text("".join(f"file {quoted(path)}\n" for path in paths))
    return dest


def _cut_copy(paths: list[Path], frames: list[int], out: Path, spec: ConformSpec, audio: AudioMode) -> None:
    listing = _concat_list(paths, out.with_name(out.name + ".concat.txt"))
    try:
        video = ffmpeg.input(str(listing), f="concat", safe=0).video
        if audio == "keep":
            parts = [fit_audio(ffmpeg.input(str(p)).audio, spec, n) for p, n in zip(paths, frames, strict=True)]
        else:
            parts = [silence(spec, n) for n in frames]
        parts = _split_repeats(parts, "asplit")
        sound = ffmpeg.concat(*parts, v=0, a=1) if len(parts) > 1 else parts[0]
        # The demuxer offsets each file by its container start time, which AAC priming makes -1024 samples;
        # re-base the copied video so its first frame is at 0, like the rebuilt audio.
        rebase = {"c:v": "copy", "bsf:v": "setts=pts=PTS-STARTPTS:dts=DTS-STARTPTS"}
        graph = ffmpeg.output(video, sound, str(out), **rebase, **_audio_args(spec, out), movflags="+faststart")
        run_ffmpeg(graph, what=f"stitch (cut, stream copy) to {out}")
    finally:
        listing.unlink(missing_ok=True)


def _encode(streams: list[tuple], out: Path, spec: ConformSpec, transition: Transition, frames_t: int) -> None:
    videos = _split_repeats([v for v, _, _ in streams], "split")
    sounds = _split_repeats([a for _, a, _ in streams], "asplit")
    streams = [(v, a, n) for v, a, (_, _, n) in zip(videos, sounds, streams, strict=True)]
    if transition == "cut" or len(streams) == 1:
        joined = ffmpeg.concat(*[s for v, a, _ in streams for s in (v, a)], v=1, a=1).node
        video, sound = joined[0], joined[1]
    else:
        seconds = frames_t / spec.fps
        kind = "fade" if transition == "crossfade" else "fadeblack"
        video, sound, length = streams[0][0], streams[0][1], streams[0][2]
        for v, a, n in streams[1:]:
            video = ffmpeg.filter(
                [video, v], "xfade", transition=kind, duration=seconds, offset=(length - frames_t) / spec.fps
            )
            if transition == "crossfade":
                sound = ffmpeg.filter([sound, a], "acrossfade", ns=spec.samples(frames_t), c1="tri", c2="tri")
            else:  # down to silence over the first half of the join, up from silence over the second
                half = seconds / 2
                sound = sound.filter("afade", t="out", st=(length - frames_t) / spec.fps, d=half)
                a = a.filter("afade", t="in", st=half, d=half)
                sound = ffmpeg.filter([sound, a], "acrossfade", ns=spec.samples(frames_t), c1="nofade", c2="nofade")
            length += n - frames_t
    graph = ffmpeg.output(video, sound, str(out), **spec.video_args(), **_audio_args(spec, out), movflags="+faststart")
    run_ffmpeg(graph, what=f"stitch ({transition}) to {out}")


def _split_repeats(streams: list[Any], splitter: str) -> list[Any]:
    """``streams`` with every repeated chain fed through one ``split``/``asplit``.

    ffmpeg-python merges identical chains (the same clip twice, equal silences) into one graph node, and a node
    cannot feed two branches without a split; identical chains give identical output, so one may feed them all.
    """
    counts = Counter(streams)
    splits = {s: s.filter_multi_output(splitter, n) for s, n in counts.items() if n > 1}
    used: Counter[Any] = Counter()
    shared = []
    for stream in streams:
        if stream in splits:
            shared.append(splits[stream][used[stream]])
            used[stream] += 1
        else:
            shared.append(stream)
    return shared


def stitch(
    clips: list[Path],
    out: Path,
    *,
    transition: Transition = "cut",
    transition_seconds: float = 0.5,
    spec: ConformSpec,
    audio: AudioMode = "keep",
    names: list[str] | None = None,
) -> StitchResult:
    """Join ``clips`` in order into ``out`` at ``spec``; ``StitchResult.stream_copied`` says which path ran.

    ``transition_seconds`` is rounded to whole frames. The programme lasts the sum of the clips' (conformed)
    durations for ``cut``, and that minus ``(n - 1) * transition_seconds`` for ``crossfade`` and
    ``fade_black``, to the frame; audio lasts exactly as long as video. ``names`` (one per clip) make errors
    name the shot. A transition needs the first and last clips one transition long, the others two.
    """
    if not clips:
        raise MediaError(f"stitch to {out}: no clips given")
    paths = [Path(c) for c in clips]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    infos = [probe(p, _label(names, i, p)) for i, p in enumerate(paths)]
    for i, (path, info) in enumerate(zip(paths, infos, strict=True)):
        if not info.video_codec:
            raise MediaError(f"{_label(names, i, path)}: has no video stream")
    frames = [source_frames(info, spec) for info in infos]
    frames_t = round(transition_seconds * spec.fps) if transition != "cut" else 0
    if frames_t == 0:
        transition = "cut"
    for i, n in enumerate(frames):
        needed = frames_t * (1 if i in (0, len(frames) - 1) else 2)
        if len(frames) > 1 and n < needed:
            raise MediaError(
                f"{_label(names, i, paths[i])}: {n / spec.fps:.2f} s is too short for "
                f"{transition_seconds} s transitions (needs {needed / spec.fps:.2f} s)"
            )
    offsets, start = [], 0
    for n in frames:
        offsets.append(start / spec.fps)
        start += n - frames_t
    copied = transition == "cut" and all(is_conformant(info, spec) for info in infos) and copy_compatible(paths)
    if copied:
        _cut_copy(paths, frames, out, spec, audio)
    else:
        streams = [conform_streams(p, info, spec, audio=audio) for p, info in zip(paths, infos, strict=True)]
        _encode(streams, out, spec, transition, frames_t)
    result = probe(out)
    return StitchResult(
        path=out,
        stream_copied=copied,
        duration=result.video_duration,
        transition=transition,
        transition_seconds=frames_t / spec.fps,
        shot_offsets=offsets,
        shot_durations=[n / spec.fps for n in frames],
    )
