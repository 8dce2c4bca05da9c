"""Smart rendering matches a single encode of the same timeline (issue 11, item 6).

Every case is a programme of clips carrying a sync mark (a white flash and a beep at the same instant), smart-
rendered by ``assemble`` and compared with one hand-written ffmpeg command encoding the whole timeline once with the
same encoder settings (what assembly did before): the same frame count and duration, per-frame SSIM >= 0.98
and the same brightness (a frame early or late in a fade would differ) in and around every transition and
window edge, packet
timestamps strictly increasing without gaps, every shot's sound in sync with its picture within one frame, and
the whole file decodable by PyAV. Cases cover clips encoded our way with keyframes where the transitions need
them, the same with keyframes where they do not (windows widen to the keyframes), foreign clips of mixed sizes
and frame rates (29.97 among them), and a 29.97 fps programme.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from media_pipeline.media import aac, cores
from media_pipeline.media.assemble import Assembly
from media_pipeline.media.conform import ConformSpec, conform_video, source_frames
from media_pipeline.media.ffmpeg import run_ffmpeg
from media_pipeline.media.probe import probe
from media_pipeline.media.quality import ssim
from media_pipeline.media.stitch import load_sources, prepare

from .clips import decoded_frames, decoded_sound, marked_clip, packet_timestamps, programme

FADE = 0.5
SECONDS = [3.0, 5.0, 2.5]
FLASH = [1.2, 2.0, 1.0]  # into each clip, clear of its transitions
SPEC = ConformSpec(width=320, height=180, fps=24)
NTSC = ConformSpec(width=320, height=180, fps=Fraction(30000, 1001))


def _clips(folder: Path, kind: str) -> tuple[list[Path], ConformSpec]:
    spec = NTSC if kind == "ntsc" else SPEC
    clips = []
    for i, (seconds, flash) in enumerate(zip(SECONDS, FLASH, strict=True)):
        out = folder / f"{kind}{i}.mp4"
        n, t = round(seconds * spec.fps), round(FADE * spec.fps)
        if kind == "placed":  # as conform writes them: keyframes where the transitions start and end
            clips.append(marked_clip(out, seconds=seconds, spec=spec, keyframes=(t, n - t), flash_at=flash))
        elif kind in ("gop", "ntsc"):  # our encoding, keyframes only every two seconds
            clips.append(marked_clip(out, seconds=seconds, spec=spec, flash_at=flash))
        else:  # foreign clips of other sizes and rates
            size, fps = [((640, 360), "30"), ((320, 240), "25"), ((480, 270), "30000/1001")][i]
            clips.append(marked_clip(out, seconds=seconds, width=size[0], height=size[1], fps=fps, flash_at=flash))
    if kind == "ntsc":  # and one foreign 25 fps clip conformed to 29.97
        clips[2] = marked_clip(folder / "ntsc2.mp4", seconds=SECONDS[2], fps="25", flash_at=FLASH[2])
    return clips, spec


def _reference(clips: list[Path], out: Path, spec: ConformSpec, transition: str) -> Path:
    """The same timeline in one ffmpeg encode: every clip conformed inline, one xfade chain, our settings."""
    kind = {"crossfade": "fade", "fade_black": "fadeblack"}[transition]
    frames = [source_frames(probe(c), spec) for c in clips]
    t = round(FADE * spec.fps)
    video, at = None, 0
    for clip, n in zip(clips, frames, strict=True):
        part = conform_video(ffmpeg.input(str(clip)).video, spec, n)
        if video is not None:
            offset = f"{float((at - t) / spec.fps):.6f}"
            video = ffmpeg.filter([video, part], "xfade", transition=kind, duration=FADE, offset=offset)
            at -= t
        video = part if video is None else video
        at += n
    run_ffmpeg(ffmpeg.output(video, str(out), **spec.video_args()), what="single-encode reference")
    return out


def _flash_frames(frames: list[np.ndarray], start: int, end: int) -> int:
    """The first all-white frame in ``[start, end)``."""
    return next(i for i in range(start, end) if frames[i].mean() > 240)


def _beep_onset(sound: np.ndarray, rate: int, start: float, end: float) -> float:
    window = np.abs(sound[int(start * rate) : int(end * rate)])
    return start + int(np.argmax(window > 0.5 * window.max())) / rate


def _check(result: Assembly, transition: str, reference: Path, clips: list[Path], spec: ConformSpec) -> None:
    frame = spec.frame_seconds
    path = result.master.path
    made, wanted = decoded_frames(path), decoded_frames(reference)  # PyAV, start to end
    info = probe(path)
    assert len(made) == len(wanted) == info.frame_count
    assert info.video_duration == pytest.approx(probe(reference).video_duration, abs=frame / 2)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=frame)

    timeline = prepare(load_sources([(c.stem, c) for c in clips], spec), spec, transition, FADE)
    t = timeline.transition
    sampled = {f for o in timeline.offsets[1:] for f in range(o - 3, o + t + 3)}
    sampled |= {f for w in timeline.windows for f in (w.start - 1, w.start, w.end - 1, w.end)}
    scores = {f: ssim(wanted[f], made[f]) for f in sorted(sampled) if 0 <= f < len(made)}
    assert min(scores.values()) >= 0.98, {f: round(s, 4) for f, s in scores.items() if s < 0.98}
    shifted = {f: (wanted[f].mean(), made[f].mean()) for f in scores if abs(wanted[f].mean() - made[f].mean()) > 3}
    assert not shifted, f"frames whose brightness differs from the reference: {shifted}"

    stamps = packet_timestamps(path)
    dts = [d for d, _ in stamps]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), "decode timestamps must strictly increase"
    pts = sorted(p for _, p in stamps)
    step = pts[1] - pts[0]
    assert pts == list(range(pts[0], pts[0] + step * len(pts), step)), "presentation timestamps have a gap"

    sound, rate = decoded_sound(path)
    for i, offset in enumerate(timeline.offsets):
        start, end = offset + (t if i else 0), offset + timeline.frames[i] - (t if i < len(clips) - 1 else 0)
        flash = _flash_frames(made, start, end)
        assert abs(flash - (offset + FLASH[i] / frame)) <= 1, f"shot {i}: picture mark misplaced"
        beep = _beep_onset(sound, rate, start * frame, end * frame)
        assert beep == pytest.approx(flash * frame, abs=frame), f"shot {i}: sound out of sync"


@pytest.mark.slow
@pytest.mark.parametrize("transition", ["crossfade", "fade_black"])
@pytest.mark.parametrize("kind", ["placed", "gop", "mixed", "ntsc"])
def test_smart_render_matches_a_single_encode(tmp_path: Path, kind: str, transition: str) -> None:
    clips, spec = _clips(tmp_path, kind)
    result = programme(clips, tmp_path / "smart", transition=transition, transition_seconds=FADE, spec=spec)
    reference = _reference(clips, tmp_path / "reference.mp4", spec, transition)
    _check(result, transition, reference, clips, spec)
    assert result.encoded_frames + result.copied_frames == result.master.info.frame_count
    t = round(FADE * spec.fps)
    if kind == "placed":  # only the transitions themselves were encoded
        assert result.encoded_frames == 2 * t
    elif kind == "mixed":  # nothing to copy: every clip is conformed
        assert result.copied_frames == 0
    else:  # windows widened to the keyframes, the rest copied
        assert result.encoded_frames > 2 * t and result.copied_frames > 0


@pytest.mark.slow
@pytest.mark.parametrize("transition", ["crossfade", "fade_black"])
def test_sound_encoded_in_pieces_stays_in_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transition: str
) -> None:
    """The programme's sound encoded in three pieces at once (``media.aac``; pieces of a second allowed here):
    every shot's sound stays in sync with its picture and the track lasts as long as the picture."""
    monkeypatch.setattr(aac, "MIN_PIECE_SECONDS", 1.0)
    monkeypatch.setattr(cores, "cores", lambda: 3)
    joined, join = [], aac._join
    monkeypatch.setattr(aac, "_join", lambda pieces, out: (joined.append(len(pieces)), join(pieces, out))[1])
    clips, spec = _clips(tmp_path, "placed")
    result = programme(clips, tmp_path / "smart", transition=transition, transition_seconds=FADE, spec=spec)
    assert joined == [3]
    _check(result, transition, _reference(clips, tmp_path / "reference.mp4", spec, transition), clips, spec)
