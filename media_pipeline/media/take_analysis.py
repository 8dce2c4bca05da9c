"""One ffmpeg pass over a take: its frozen and black stretches, and a few small frames for the pixel measures.

``freezedetect`` (on frames shrunk so encoder noise averages out) and ``blackdetect`` run over every decoded frame
while ``select`` writes a handful of small frames: the first, the last and a few between. ``scoring`` turns what
this pass finds into a take's scores; kept apart because this is where ffmpeg's filter graph, its log and the
detectors' thresholds live, and scoring is arithmetic over their results. No Dagster and no manifest type here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from media_pipeline.media.errors import MediaError
from media_pipeline.media.ffmpeg import run_ffmpeg

# A held frame shorter than this reads as a beat, longer as a stall; eased camera moves start slowly enough to
# look still for a few frames, which this also forgives.
FREEZE_MIN_SECONDS = 0.5
# freezedetect runs on the frames shrunk this many times (area average): encoder noise on a held frame averages
# out, while a move's differences (one sign along each moving edge) keep their mean.
FREEZE_SHRINK = 4
# freezedetect's noise there: mean absolute difference (0-1) from the first frame of a still stretch under which
# frames count as the same picture. Held frames re-encoded by H.264 stay under 0.0001 after the shrink, even on a
# noisy picture; the slow ends of an eased move over a dark or flat picture reach 0.0003 within half a second.
# ffmpeg's own default (0.001, on full frames) calls such moves frozen.
FREEZE_NOISE = 0.0002
# Black: 98 % of pixels under 10 % luma for at least 0.1 s (a fade through black at a cut is shorter).
BLACK_MIN_SECONDS = 0.1
BLACK_PIXEL = 0.10
BLACK_PICTURE = 0.98
# Frames sampled for colour (first and last included), and the short side they are written at: SSIM works on
# a ~256 px short side anyway (media/quality.py), colour needs fewer pixels still.
COLOUR_SAMPLES = 5
ANALYSIS_SHORT_SIDE = 288
# The last frame is the last of the final few sampled: a header may count a frame or two the decoder drops (an edit
# list, a last frame without a timestamp); more missing than that is a clip cut short.
END_SLACK = 2

_FREEZE = re.compile(r"freezedetect\.freeze_(start|end): *([0-9.]+)")
_BLACK = re.compile(r"black_start: *([0-9.]+) +black_end: *([0-9.]+)")


def analyse_take(clip: Path, count: int, size: tuple[int, int], tmp: Path, what: str) -> tuple[str, list[np.ndarray]]:
    """One ffmpeg pass: the detectors' log and the sampled frames (first ... last), small, as RGB arrays."""
    ends = (max(0, count - 1 - k) for k in range(END_SLACK + 1))
    picks = sorted({*ends, *(round(i * (count - 1) / (COLOUR_SAMPLES - 1)) for i in range(COLOUR_SAMPLES))})
    select = "+".join(f"eq(n\\,{n})" for n in picks)
    width, height = size
    factor = min(width, height) / ANALYSIS_SHORT_SIDE
    scale = f",scale={2 * round(width / factor / 2)}:{2 * round(height / factor / 2)}:flags=area" if factor > 1 else ""
    shrunk = f"{max(2, width // FREEZE_SHRINK)}:{max(2, height // FREEZE_SHRINK)}"
    graph = (
        f"[0:v]split[f][s];[f]scale={shrunk}:flags=area,freezedetect=n={FREEZE_NOISE}:d={FREEZE_MIN_SECONDS},nullsink;"
        f"[s]blackdetect=d={BLACK_MIN_SECONDS}:pix_th={BLACK_PIXEL}:pic_th={BLACK_PICTURE},"
        f"select={select}{scale},format=rgb24[frames]"
    )
    args = ["-i", str(clip), "-filter_complex", graph, "-map", "[frames]", "-fps_mode", "passthrough", "-f", "image2"]
    log = run_ffmpeg([*args, str(tmp / "%03d.ppm")], what=f"{what}: scoring take", loglevel="info")
    written = sorted(tmp.glob("*.ppm"))
    if len(written) < len(picks) - END_SLACK:  # a clip cut short still decodes its first frames: not a whole take
        raise MediaError(f"{what}: frame {picks[len(written)]} of {count} does not decode (cut short or damaged)")
    frames = []
    for path in written:
        with Image.open(path) as image:
            frames.append(np.asarray(image.convert("RGB")))
    return log, frames


def frozen_seconds(log: str, seconds: float) -> float:
    """Total frozen time in the freezedetect log; a freeze still on at the end lasts to the end of the clip."""
    total, start = 0.0, None
    for kind, value in _FREEZE.findall(log):
        if kind == "start":
            start = float(value)
        elif start is not None:
            total += float(value) - start
            start = None
    if start is not None:
        total += max(0.0, seconds - start)
    return total


def black_seconds(log: str) -> float:
    """Total black time in the blackdetect log."""
    return sum(end - start for start, end in (map(float, m) for m in _BLACK.findall(log)))
