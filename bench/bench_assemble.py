"""Benchmark the deliverable stage: smart rendering against one hand-written ffmpeg command and stream copy.

Builds N clips (1280x720, 24 fps, H.264 + AAC 48 kHz stereo, encoded with the pipeline's own settings) with
lavfi, not timed: once with keyframes where 0.5 s crossfades need them (as a conformed clip has them) and once
with only the regular two-second GOP (as the local animator writes one). Then times, in one run, side by side,
wall time and CPU time (the ffmpeg runs alone, and with this process's own PyAV work):

- crossfade: ``assemble`` of the master (smart render, sound measured and normalised, poster, contact sheet) vs
  one hand-written ``xfade`` + ``acrossfade`` command (picture and sound only) vs a concat stream copy of the
  clips (the physical limit); target: ours >= 3x faster than the hand-written command;
- clips with keyframes elsewhere: windows widened to the keyframes (what ``assemble`` does) vs conforming every
  clip with the right keyframes first;
- full ``assemble`` with renditions 16:9 + 9:16 + 1:1; target <= 1.5x the hand-written master alone; its
  renditions vs one hand-written ffmpeg decoding the master once for both rendition encoders, and vs the same
  files made per clip and per window (what ``assemble`` does when some pieces are cached: here shot 0 and its
  window are, from a 2-shot run before);
- cut path: full ``assemble`` as a realtime multiple (target >= 40x), and its sound alone (mixed and measured,
  then AAC encoded: the part no stream copy can avoid, since the level is set by re-encoding), encoded in one
  piece vs in pieces on every core at once (what ``assemble`` does);
- one changed shot out of N: re-assembly with the segment cache vs the full assembly.

Run: ``nice python bench/bench_assemble.py`` (12 clips x 5 s) or ``--clips 3 --seconds 2`` for a smoke run.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media_pipeline.media.aac import plan_pieces  # noqa: E402
from media_pipeline.media.assemble import AssemblySpec, assemble  # noqa: E402
from media_pipeline.media.audio import encode_sound, mix_sound  # noqa: E402
from media_pipeline.media.conform import ConformSpec, conform  # noqa: E402
from media_pipeline.media.ffmpeg import ffmpeg_exe  # noqa: E402
from media_pipeline.media.probe import probe  # noqa: E402
from media_pipeline.media.renditions import crop_box, rendition_size  # noqa: E402

SPEC = ConformSpec(width=1280, height=720, fps=24)
FADE = 0.5
RENDITIONS = ["16:9", "9:16", "1:1"]


def _options(args: dict[str, object]) -> list[str]:
    return [item for key, value in args.items() for item in (f"-{key}", str(value))]


def make_clip(out: Path, index: int, seconds: float, keyframes: tuple[int, ...], pitch: int = 0) -> Path:
    """A conformant clip encoded with the pipeline's own settings (``keyframes`` forced besides the GOP)."""
    frames = SPEC.frames(seconds)
    source = f"testsrc2=s={SPEC.width}x{SPEC.height}:r={SPEC.fps}:d={seconds}"
    tone = f"sine=f={220 + 40 * index + pitch}:r={SPEC.audio_rate}:d={seconds}"
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", source, "-f", "lavfi", "-i", tone]
    args += [
        "-vf",
        "setsar=1,format=yuv420p,setparams=range=tv:color_primaries=bt709:color_trc=bt709:"
        "colorspace=bt709:chroma_location=left",
        "-frames:v",
        str(frames),
        "-ac",
        "2",
    ]
    args += _options({**SPEC.video_args(keyframes), **SPEC.audio_args()})
    subprocess.run([*args, "-movflags", "+faststart", str(out)], check=True)
    return out


def hand_written_crossfade(clips: list[Path], out: Path, seconds: float) -> None:
    """The reference: one ffmpeg command with an xfade + acrossfade chain, same encoder settings."""
    inputs = [arg for clip in clips for arg in ("-i", str(clip))]
    parts, v, a = [], "0:v", "0:a"
    for i in range(1, len(clips)):
        offset = i * (seconds - FADE)
        parts.append(f"[{v}][{i}:v]xfade=transition=fade:duration={FADE}:offset={offset}[v{i}]")
        parts.append(f"[{a}][{i}:a]acrossfade=d={FADE}[a{i}]")
        v, a = f"v{i}", f"a{i}"
    args = [ffmpeg_exe(), "-v", "error", "-y", *inputs, "-filter_complex", ";".join(parts)]
    args += ["-map", f"[{v}]", "-map", f"[{a}]", *_options({**SPEC.video_args(), **SPEC.audio_args()})]
    subprocess.run([*args, "-movflags", "+faststart", str(out)], check=True)


def stream_copy(clips: list[Path], out: Path) -> None:
    """The physical limit: the clips' packets concatenated, nothing decoded."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{clip}'\n" for clip in clips))
    args = [ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
    subprocess.run([*args, str(out)], check=True)


def one_decode_renditions(master: Path, folder: Path) -> None:
    """The other way to make renditions: one ffmpeg decodes the finished master once and feeds both encoders."""
    sizes = [rendition_size(SPEC.width, SPEC.height, aspect) for aspect in RENDITIONS[1:]]
    graph = f"[0:v]split={len(sizes)}" + "".join(f"[s{i}]" for i in range(len(sizes)))
    for i, (w, h) in enumerate(sizes):
        cw, ch = crop_box(w, h)
        graph += f";[s{i}]crop='{cw}':'{ch}',scale={w}:{h},setsar=1[r{i}]"
    args = [ffmpeg_exe(), "-v", "error", "-y", "-i", str(master), "-filter_complex", graph]
    for i in range(len(sizes)):
        args += [
            "-map",
            f"[r{i}]",
            "-map",
            "0:a",
            "-c:a",
            "copy",
            *_options(SPEC.video_args()),
            str(folder / f"{i}.mp4"),
        ]
    subprocess.run(args, check=True)


def _cpu() -> tuple[float, float]:
    """CPU seconds used so far by finished children (the ffmpeg runs) and by this process (its PyAV work)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return kids.ru_utime + kids.ru_stime, me.ru_utime + me.ru_stime


def timed(action: Callable[[], object]) -> tuple[float, object, float, float]:
    """``(wall seconds, result, ffmpeg CPU seconds, total CPU seconds)``. CPU time is the fairer comparison on a
    shared, busy machine; the total adds this process's own work (joins, frames read with PyAV) to ffmpeg's."""
    start, (kids, me) = time.perf_counter(), _cpu()
    result = action()
    kids_after, me_after = _cpu()
    return time.perf_counter() - start, result, kids_after - kids, kids_after - kids + me_after - me


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    n, seconds = args.clips, args.seconds
    with tempfile.TemporaryDirectory(prefix="bench-assemble-") as tmp:
        work = Path(tmp)
        (work / "placed").mkdir()
        (work / "gop").mkdir()
        t, frames = SPEC.frames(FADE), SPEC.frames(seconds)
        print(f"building 2 x {n} clips of {seconds:g} s at {SPEC.width}x{SPEC.height}@{SPEC.fps} ...", flush=True)
        placed = [make_clip(work / "placed" / f"{i:02d}.mp4", i, seconds, (t, frames - t)) for i in range(n)]
        gop = [make_clip(work / "gop" / f"{i:02d}.mp4", i, seconds, ()) for i in range(n)]
        named = [(f"shot{i:02d}", clip) for i, clip in enumerate(placed)]

        def deliver(
            transition: str, folder: str, renditions: list[str], cache: str | None = None, clips: list | None = None
        ) -> object:
            spec = AssemblySpec(
                width=SPEC.width,
                height=SPEC.height,
                transition=transition,
                transition_seconds=FADE,
                renditions=renditions,
                cache_dir=work / cache if cache else None,
            )
            return assemble(clips or named, work / folder, spec=spec, name="bench")

        def conform_then_xfade() -> object:
            conformed = [
                (f"shot{i:02d}", conform(c, work / "gop" / f"conformed{i:02d}.mp4", SPEC, keyframes=(t, frames - t)))
                for i, c in enumerate(gop)
            ]
            return deliver("crossfade", "conformed", ["16:9"], clips=conformed)

        print("timing ...", flush=True)
        ours = timed(lambda: deliver("crossfade", "ours", ["16:9"]))
        hand = timed(lambda: hand_written_crossfade(placed, work / "hand.mp4", seconds))
        limit = timed(lambda: stream_copy(placed, work / "copy.mp4"))
        widened = timed(
            lambda: deliver("crossfade", "widened", ["16:9"], clips=[(f"shot{i:02d}", c) for i, c in enumerate(gop)])
        )
        reconformed = timed(conform_then_xfade)
        full = timed(lambda: deliver("crossfade", "full", RENDITIONS, cache="cache"))
        one_decode = timed(lambda: one_decode_renditions(full[1].master.path, work))
        deliver("crossfade", "warm", RENDITIONS, cache="per_clip", clips=named[:2])  # caches shot 0 and its window
        per_clip = timed(lambda: deliver("crossfade", "per_clip", RENDITIONS, cache="per_clip"))
        cut = timed(lambda: deliver("cut", "cut", ["16:9"]))
        clips = [(path, probe(path)) for _, path in named]
        wav = work / "sound.wav"
        mixed = timed(lambda: mix_sound(clips, [frames] * n, wav, spec=SPEC))
        aac_one = timed(lambda: encode_sound(wav, mixed[1], work / "sound1.m4a", spec=SPEC, pieces=1))
        aac = timed(lambda: encode_sound(wav, mixed[1], work / "sound.m4a", spec=SPEC))
        pieces = len(plan_pieces(wav))
        named[n // 2] = (named[n // 2][0], make_clip(work / "changed.mp4", n // 2, seconds, (t, frames - t), 7))
        again = timed(lambda: deliver("crossfade", "changed", RENDITIONS, cache="cache"))

    programme, cut_seconds = n * seconds - (n - 1) * FADE, n * seconds
    smart, wide, cut_result, changed = ours[1], widened[1], cut[1], again[1]

    def ratio(a: tuple, b: tuple) -> tuple[float, float, float]:
        return a[0] / b[0], a[2] / b[2], a[3] / b[3]

    def less(a: tuple, b: tuple) -> tuple[float, float, float]:
        return a[0] - b[0], a[2] - b[2], a[3] - b[3]

    def times(t: tuple) -> tuple[float, float, float]:
        return t[0], t[2], t[3]

    rows = [
        ("crossfade: assemble (ours)", times(ours), f"{smart.copied_frames} copied, {smart.encoded_frames} encoded"),
        ("crossfade: hand-written ffmpeg", times(hand), "one xfade + acrossfade command, same encoder settings"),
        ("crossfade: stream copy (limit)", times(limit), "concat demuxer, -c copy (no transitions)"),
        ("crossfade: hand / ours", ratio(hand, ours), "x faster (target >= 3x)"),
        ("gop clips: windows widened (ours)", times(widened), f"{wide.encoded_frames} frames encoded"),
        ("gop clips: conform all, then smart", times(reconformed), "every clip re-encoded with keyframes placed"),
        ("full assemble, 16:9 + 9:16 + 1:1", times(full), "all renditions, empty segment cache"),
        ("  / hand-written master", ratio(full, hand), "x (target <= 1.5x)"),
        ("  its renditions (ours)", less(full, ours), "9:16 + 1:1: one decode of the master, 2 encoders"),
        ("  renditions by hand, one decode", times(one_decode), "the same in one hand-written ffmpeg command"),
        (
            "  the same 3 files, per clip + window",
            times(per_clip),
            f"{per_clip[1].encoded_segments} segments encoded one by one, in parallel "
            f"({per_clip[1].cached_segments} cached): {per_clip[3] / full[3]:.2f}x the one-decode assembly by total "
            f"CPU, {per_clip[0] / full[0]:.2f}x by wall",
        ),
        (
            "cut: full assemble",
            times(cut),
            f"{cut_seconds / cut[0]:.0f}x realtime by wall, {cut_seconds / cut[3]:.0f}x by total CPU "
            f"(target >= 40x); copied={cut_result.stream_copied}",
        ),
        ("  its sound: mixed and measured", times(mixed), f"{n} clips' AAC decoded, ebur128, written as PCM"),
        (
            "  its sound: AAC in one piece",
            times(aac_one),
            f"one encoder, one core: the sound alone {cut_seconds / (mixed[0] + aac_one[0]):.0f}x realtime by wall",
        ),
        (
            f"  its sound: AAC in {pieces} pieces at once",
            times(aac),
            f"what assemble does: the sound alone {cut_seconds / (mixed[0] + aac[0]):.0f}x realtime by wall, "
            f"{cut_seconds / (mixed[3] + aac[3]):.0f}x by CPU; the encode {aac_one[0] / aac[0]:.2f}x faster by wall",
        ),
        (
            f"1 of {n} shots changed: re-assemble",
            times(again),
            f"{again[0] / full[0]:.2f} of the full assembly by wall, {again[3] / full[3]:.2f} by total CPU; "
            f"{changed.encoded_segments} segments encoded, {changed.cached_segments} from the cache",
        ),
    ]
    print(f"\n{n} clips x {seconds:g} s at {SPEC.width}x{SPEC.height}, crossfade {FADE} s ({programme:g} s programme)")
    print("CPU: ffmpeg = the ffmpeg runs (RUSAGE_CHILDREN); total = those + this process's own work (PyAV)")
    print(f"{'case':36} {'wall s':>7} {'ffmpeg':>7} {'total':>7}  notes")
    print("-" * 120)
    for name, (wall, kids, total), note in rows:
        print(f"{name:36} {wall:7.2f} {kids:7.2f} {total:7.2f}  {note}")


if __name__ == "__main__":
    main()
