"""Frame geometry and rates shared by every stage, so generated, conformed and stitched clips agree."""

from __future__ import annotations

import math
import re
from fractions import Fraction

FPS = 24
NTSC_RATES = {29.97: Fraction(30000, 1001), 23.976: Fraction(24000, 1001), 59.94: Fraction(60000, 1001)}
AUDIO_RATE = 48000

RESOLUTIONS: dict[str, int] = {"480p": 480, "720p": 720, "1080p": 1080}
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1, 1),
    "16:9": (16, 9),
    "9:16": (9, 16),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "3:2": (3, 2),
    "2:3": (2, 3),
}


def even(value: float) -> int:
    """Nearest even integer, at least 2: H.264 with yuv420p needs even width and height."""
    return max(2, 2 * round(value / 2))


def _short_side(resolution: str) -> int:
    """Pixels on the short side for a resolution name; besides the product's names, any even ``"<N>p"``
    from 64p to 2160p is accepted so tests and benchmarks can render tiny frames (``"180p"``)."""
    if resolution in RESOLUTIONS:
        return RESOLUTIONS[resolution]
    match = re.fullmatch(r"(\d{2,4})p", resolution)
    if match and 64 <= int(match[1]) <= 2160 and int(match[1]) % 2 == 0:
        return int(match[1])
    raise ValueError(f"unknown resolution {resolution!r}; expected one of {list(RESOLUTIONS)}")


def frame_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """``(width, height)`` for a resolution name (the short side) and an aspect ratio, both dims even.

    ``("720p", "16:9")`` -> ``(1280, 720)``; ``("720p", "9:16")`` -> ``(720, 1280)``;
    ``("480p", "16:9")`` -> ``(854, 480)``.
    """
    return size_for(_short_side(resolution), aspect_ratio)


def size_for(short: int, aspect_ratio: str) -> tuple[int, int]:
    """``(width, height)`` of an ``aspect_ratio`` frame whose short side is ``short`` pixels, both dims even."""
    try:
        aw, ah = ASPECT_RATIOS[aspect_ratio]
    except KeyError:
        expected = list(ASPECT_RATIOS)
        raise ValueError(f"unknown aspect ratio {aspect_ratio!r}; expected one of {expected}") from None
    if aw >= ah:
        return even(short * aw / ah), even(short)
    return even(short), even(short * ah / aw)


def exact_rate(value: object) -> Fraction:
    """A frame rate as an exact fraction: ``29.97`` (or ``"29.97"``) -> 30000/1001, ``"24000/1001"`` ->
    24000/1001, ``24`` -> 24. Raises ``ValueError`` for anything else."""
    if isinstance(value, str) and "." in value:
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"frame rate {value} is not a number")
        for approx, exact in NTSC_RATES.items():
            if abs(value - approx) < 0.005:
                return exact
        return Fraction(value).limit_denominator(1001)
    if isinstance(value, bool) or not isinstance(value, int | str | Fraction):
        raise ValueError(f"frame rate {value!r} is not a number")
    return Fraction(value)
