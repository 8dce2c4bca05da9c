"""Score a take (one generated clip of a shot) on what is measurable, and pick the best of a shot's takes.

A take is measured in one ffmpeg pass (``take_analysis``): ``freezedetect`` and ``blackdetect`` run over every
decoded frame while ``select`` writes a handful of small frames (the first, the last, a few between) for the pixel
measures:

- first-frame SSIM against the source image (cover-cropped to the clip's frame): an image-to-video clip starts on
  its picture, and a take that starts on another one has drifted;
- last-frame SSIM against the pinned last frame, when the shot pins one;
- frozen and black stretches, in seconds and as a fraction of the clip;
- colour consistency with the neighbouring shots: each take keeps a ``ColourSignature`` (per-channel histograms
  of its sampled frames), and its distance to a neighbour is the mean over R, G, B of the 1-D earth mover's
  distance between the histograms, as a fraction of full scale (0: the same colours; 0.1: every pixel about 10 %
  brighter or darker on average; 1: black against white).

``overall`` multiplies one factor in [0, 1] per measure, so any single defect pulls a take down; the colour
factor is weighted down because neighbouring shots may differ on purpose. ``best_take`` picks the highest and
says why in words a producer reads. No Dagster and no manifest type here: paths and numbers in, models out.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from media_pipeline.media.errors import MediaError
from media_pipeline.media.images import cover_crop, load_rgb
from media_pipeline.media.probe import probe
from media_pipeline.media.quality import ssim
from media_pipeline.media.take_analysis import (
    BLACK_MIN_SECONDS,
    FREEZE_MIN_SECONDS,
    analyse_take,
    black_seconds,
    frozen_seconds,
)

# An encoded image-to-video first frame scores 0.8-0.99 against its source at our sizes; an unrelated,
# inverted or mirrored picture scores under 0.4. 0.5 tells them apart with room on both sides.
DRIFT_SSIM = 0.5
# At or below this SSIM nothing of the expected picture is left: the fidelity factor is 0 there, 1 at SSIM 1.
SSIM_FLOOR = 0.3
# Colour distance (fraction of full scale) at which a take counts as "off its neighbours": a grade shift of
# 8 % of full scale is plainly visible side by side; a new take of the same picture stays under 0.03.
COLOUR_OFF = 0.08
# Colour distance at which the colour factor bottoms out, and how much of the overall it can take away:
# neighbouring shots may differ on purpose, so colour can halve a score but not zero it.
COLOUR_FAR = 0.25
COLOUR_WEIGHT = 0.5
HISTOGRAM_BINS = 32  # bins of each channel's histogram in a ``ColourSignature``


class ColourSignature(BaseModel):
    """The colours of a take's sampled frames: mean R, G, B (0-1) and one normalized histogram per channel."""

    mean: tuple[float, float, float]
    histograms: tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]

    def distance(self, other: ColourSignature) -> float:
        """Mean over R, G, B of the earth mover's distance between histograms, as a fraction of full scale."""
        a, b = np.asarray(self.histograms), np.asarray(other.histograms)
        return float(np.mean(np.abs(np.cumsum(a, axis=1) - np.cumsum(b, axis=1)).sum(axis=1) / a.shape[1]))


class TakeScores(BaseModel):
    """What one take measured, one overall score in [0, 1] (higher is better) and the reason in words."""

    seconds: float
    first_frame_ssim: float | None = None  # None: no source image given
    last_frame_ssim: float | None = None  # None: no pinned last frame
    frozen_seconds: float
    frozen_fraction: float
    black_seconds: float
    black_fraction: float
    colour: ColourSignature
    colour_distance: float | None = None  # mean distance to the neighbours' signatures; None: no neighbours
    overall: float
    reason: str

    @property
    def defects(self) -> list[str]:
        """What is wrong with the take, in words; empty for a clean take."""
        found = []
        if self.first_frame_ssim is not None and self.first_frame_ssim < DRIFT_SSIM:
            found.append(f"starts on another picture (SSIM {self.first_frame_ssim:.2f})")
        if self.last_frame_ssim is not None and self.last_frame_ssim < DRIFT_SSIM:
            found.append(f"ends off the pinned last frame (SSIM {self.last_frame_ssim:.2f})")
        if self.frozen_seconds >= FREEZE_MIN_SECONDS:
            found.append(f"frozen {self.frozen_seconds:.1f} s ({self.frozen_fraction:.0%})")
        if self.black_seconds >= BLACK_MIN_SECONDS:
            found.append(f"black {self.black_seconds:.1f} s ({self.black_fraction:.0%})")
        if self.colour_distance is not None and self.colour_distance >= COLOUR_OFF:
            found.append(f"colour off its neighbours (distance {self.colour_distance:.2f})")
        return found


def score_take(
    clip: Path,
    source: Path | None = None,
    *,
    last_frame: Path | None = None,
    neighbours: Sequence[ColourSignature] = (),
    what: str | None = None,
) -> TakeScores:
    """Measure ``clip`` in one decode: against its ``source`` image and pinned ``last_frame`` (when given), for
    frozen and black stretches, and for colour against the ``neighbours``' signatures (see ``with_neighbours``
    to add them later without decoding again). ``what`` names the take in errors (campaign, shot, take)."""
    clip = Path(clip)
    info = probe(clip, what)
    if not info.video_codec or info.frame_count < 1:
        raise MediaError(f"{what or clip}: {clip} has no video frames to score")
    seconds = info.frame_count / info.fps if info.fps else info.video_duration
    with tempfile.TemporaryDirectory(prefix="take-scores-") as tmp:
        label = f"{what} ({clip})" if what else str(clip)
        log, frames = analyse_take(clip, info.frame_count, (info.width, info.height), Path(tmp), label)
    frozen = frozen_seconds(log, seconds)
    black = black_seconds(log)
    scores = TakeScores(
        seconds=round(seconds, 3),
        first_frame_ssim=_fidelity(frames[0], source),
        last_frame_ssim=_fidelity(frames[-1], last_frame),
        frozen_seconds=round(frozen, 3),
        frozen_fraction=round(min(1.0, frozen / seconds), 3) if seconds else 0.0,
        black_seconds=round(black, 3),
        black_fraction=round(min(1.0, black / seconds), 3) if seconds else 0.0,
        colour=colour_signature(frames),
        overall=0.0,
        reason="",
    )
    return with_neighbours(scores, neighbours)


def with_neighbours(scores: TakeScores, neighbours: Sequence[ColourSignature]) -> TakeScores:
    """``scores`` with its colour distance to ``neighbours`` (mean over them), overall score and reason
    recomputed; no decoding, so a shot's takes can be measured first and compared with neighbours later."""
    distance = float(np.mean([scores.colour.distance(n) for n in neighbours])) if neighbours else None
    scores = scores.model_copy(update={"colour_distance": None if distance is None else round(distance, 4)})
    factors = [
        _ssim_factor(scores.first_frame_ssim),
        _ssim_factor(scores.last_frame_ssim),
        1.0 - scores.frozen_fraction,
        1.0 - scores.black_fraction,
        1.0 - COLOUR_WEIGHT * min(1.0, (distance or 0.0) / COLOUR_FAR),
    ]
    overall = round(float(np.clip(np.prod(factors), 0.0, 1.0)), 4)
    defects = scores.defects
    if defects:
        reason = "; ".join(defects)
    elif scores.first_frame_ssim is not None:
        reason = f"clean, first-frame SSIM {scores.first_frame_ssim:.2f}"
    else:
        reason = "clean"
    return scores.model_copy(update={"overall": overall, "reason": reason})


def best_take(scores: list[TakeScores]) -> tuple[int, str]:
    """The index in ``scores`` of the best take (highest overall; the earliest on a tie) and why, naming takes by
    their 1-based place in the list: ``"take 2 scored 0.97 (clean, first-frame SSIM 0.99); take 1 frozen 1.7 s
    (85%); take 3 starts on another picture (SSIM 0.21)"``."""
    if not scores:
        raise ValueError("best_take needs at least one take's scores")
    best = max(range(len(scores)), key=lambda i: (scores[i].overall, -i))
    parts = [f"take {best + 1} scored {scores[best].overall:.2f} ({scores[best].reason})"]
    for i, take in enumerate(scores):
        if i != best:
            why = ", ".join(take.defects) or f"scored {take.overall:.2f}"
            parts.append(f"take {i + 1} {why}")
    return best, "; ".join(parts) if len(parts) > 1 else f"{parts[0]}, the only take"


def colour_signature(frames: Sequence[np.ndarray]) -> ColourSignature:
    """The ``ColourSignature`` of RGB frames (HxWx3 uint8), all pixels of all frames weighted alike."""
    pixels = np.concatenate([np.asarray(f).reshape(-1, 3) for f in frames])
    counts = np.stack([np.histogram(pixels[:, c], bins=HISTOGRAM_BINS, range=(0, 256))[0] for c in range(3)])
    histograms = tuple(tuple(row) for row in np.round(counts / len(pixels), 5).tolist())
    mean = tuple(round(float(v) / 255, 4) for v in pixels.mean(axis=0))
    return ColourSignature(mean=mean, histograms=histograms)  # type: ignore[arg-type]


def _fidelity(frame: np.ndarray, image: Path | None) -> float | None:
    """SSIM of ``frame`` against ``image`` cover-cropped to the frame's size; None without an image."""
    if image is None:
        return None
    stat = Path(image).stat()
    height, width = frame.shape[:2]
    return round(ssim(frame, _expected(str(image), (stat.st_mtime_ns, stat.st_size), (width, height))), 4)


@functools.lru_cache(maxsize=32)
def _expected(image: str, stamp: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """``image`` cover-cropped to ``size``, kept for the next take of the same shot (decoding a large source PNG
    costs more than the take's whole ffmpeg pass); ``stamp`` (mtime, size) keeps a changed file from matching."""
    picture = load_rgb(Path(image), max_side=4 * max(size))  # a large JPEG shrinks as it decodes
    return np.asarray(cover_crop(picture, size))


def _ssim_factor(value: float | None) -> float:
    """1 at SSIM 1 (or nothing to compare), falling linearly to 0 at ``SSIM_FLOOR``."""
    return 1.0 if value is None else float(np.clip((value - SSIM_FLOOR) / (1.0 - SSIM_FLOOR), 0.0, 1.0))
