"""Benchmark take scoring: ``score_take``'s one ffmpeg pass against measuring the same things one by one.

Renders a take per size with the local animator (not timed), then times, side by side, per take:

- ours: ``media.scoring.score_take`` (freezedetect + blackdetect + sampled frames in one decode, SSIM, colour);
- one by one: the first frame's SSIM (``quality.first_frame_fidelity``), the last frame (``frames.read_frame``: a
  whole decode), one ffmpeg pass per detector, and the colour frames read one seek each.

Target: ours below the one-by-one total (it decodes once instead of three times and more).
Run: ``nice python bench/bench_scoring.py`` (160x90 2 s and 1280x720 6 s) or ``--repeat 3`` for a smoke run.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from media_pipeline.media.animate import animate_still  # noqa: E402
from media_pipeline.media.ffmpeg import run_ffmpeg  # noqa: E402
from media_pipeline.media.frames import read_frame  # noqa: E402
from media_pipeline.media.quality import first_frame_fidelity  # noqa: E402
from media_pipeline.media.scoring import colour_signature, score_take  # noqa: E402
from media_pipeline.media.take_analysis import COLOUR_SAMPLES  # noqa: E402

SIZES = (("90p", 2), ("720p", 6))


def one_by_one(clip: Path, source: Path, seconds: float) -> None:
    """The same measures, each with its own decode."""
    first_frame_fidelity(clip, source)
    read_frame(clip, "last")
    for detector in ("scale=iw/4:ih/4,freezedetect=n=0.0002:d=0.5", "blackdetect=d=0.1:pix_th=0.1"):
        run_ffmpeg(["-i", clip, "-an", "-vf", detector, "-f", "null", "-"], what="bench", loglevel="info")
    times = [i * seconds / (COLOUR_SAMPLES - 1) for i in range(COLOUR_SAMPLES)]
    colour_signature([read_frame(clip, min(t, seconds - 0.05), width=288) for t in times])


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (ffmpeg): fairer than wall time on a shared box."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_ms(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``run``."""
    run()  # warm: imports, page cache
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), cpu_seconds()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu_seconds() - cpu)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "source.png"
        Image.effect_mandelbrot((1600, 900), (-2.0, -1.0, 1.0, 1.0), 100).convert("RGB").save(source)
        print(f"{'take':<12}{'ours wall/CPU ms':>18}{'one by one wall/CPU ms':>24}{'CPU ratio':>11}")
        for resolution, seconds in SIZES:
            clip = animate_still(
                source, folder / f"{resolution}.mp4", prompt="push in", duration=seconds, resolution=resolution,
                aspect_ratio="16:9",
            )  # fmt: skip
            ours = median_ms(lambda c=clip: score_take(c, source), args.repeat)
            theirs = median_ms(lambda c=clip, s=seconds: one_by_one(c, source, s), args.repeat)
            print(
                f"{resolution + f' {seconds} s':<12}{ours[0]:>10.0f} / {ours[1]:<5.0f}"
                f"{theirs[0]:>16.0f} / {theirs[1]:<5.0f}{theirs[1] / ours[1]:>10.1f}x"
            )
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
