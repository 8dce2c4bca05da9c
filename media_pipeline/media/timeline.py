"""Where a programme's frames come from: stream-copied pieces of the clips, and the windows to re-encode.

Clip ``i`` lasts ``frames[i]`` frames and starts ``transition`` frames before clip ``i - 1`` ends. Everywhere
outside the transitions the programme shows one clip's own frames, so those can be copied from the clip's
bitstream, provided the copied stretch starts on a keyframe and ends on one (or at the end of the clip): a
closed GOP decodes alone. Everything between two copied pieces is a *window*: the transition itself plus, for
a clip whose keyframes are not where the transition needs them, the frames up to the nearest keyframe. A clip
we encode ourselves (``keyframes=None``: it is conformed, or it is a rendition) gets exactly the keyframes it
needs, so its windows are just the transitions.

Pure arithmetic on frame numbers, no ffmpeg: ``plan`` is tested on its own and drives ``stitch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Piece:
    """Clip ``clip``'s frames ``[start, end)``, stream-copied to programme frame ``at``."""

    clip: int
    start: int
    end: int
    at: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Window:
    """Programme frames ``[start, end)``, re-encoded from ``parts``: ``(clip, first, end)`` frames of each clip
    that shows in it, in order; neighbouring parts overlap by the transition."""

    start: int
    end: int
    parts: tuple[tuple[int, int, int], ...]

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Timeline:
    """A programme's frame arithmetic: clip lengths and offsets, and which stretches are copied or encoded."""

    frames: tuple[int, ...]
    transition: int
    offsets: tuple[int, ...]
    total: int
    pieces: tuple[Piece, ...]
    windows: tuple[Window, ...] = field(default=())

    def segments(self) -> list[Piece | Window]:
        """Pieces and windows in programme order; together they cover every frame exactly once."""
        return sorted([*self.pieces, *self.windows], key=lambda s: s.at if isinstance(s, Piece) else s.start)

    @property
    def encoded_frames(self) -> int:
        """Frames re-encoded in windows (the cost of the transitions)."""
        return sum(w.frames for w in self.windows)


def _piece_bounds(i: int, n: int, length: int, transition: int, keyframes: list[int] | None) -> tuple[int, int]:
    """The copyable stretch of clip ``i``: from the first keyframe at or after its incoming transition to the
    last keyframe at or before its outgoing one (the clip's own end needs no keyframe)."""
    start = transition if i > 0 else 0
    end = length - transition if i < n - 1 else length
    if keyframes is None:
        return start, end
    first = min((k for k in keyframes if k >= start), default=length)
    last = end if end == length else max((k for k in keyframes if k <= end), default=0)
    return first, last


def plan(frames: list[int], transition: int, keyframes: list[list[int] | None]) -> Timeline:
    """The timeline of clips of ``frames`` frames joined by ``transition``-frame transitions (0: cuts).

    ``keyframes[i]`` are clip ``i``'s keyframe frame numbers, or None when the clip is encoded to order.
    """
    n = len(frames)
    offsets, at = [], 0
    for length in frames:
        offsets.append(at)
        at += length - transition
    total = at + transition
    pieces = []
    for i, (length, keys) in enumerate(zip(frames, keyframes, strict=True)):
        start, end = _piece_bounds(i, n, length, transition, keys)
        if end > start:
            pieces.append(Piece(clip=i, start=start, end=end, at=offsets[i] + start))
    gaps, cursor = [], 0
    for piece in pieces:
        if piece.at > cursor:
            gaps.append((cursor, piece.at))
        cursor = piece.at + piece.frames
    if cursor < total:
        gaps.append((cursor, total))
    windows = []
    for start, end in gaps:
        parts = tuple(
            (i, max(0, start - offsets[i]), min(frames[i], end - offsets[i]))
            for i in range(n)
            if offsets[i] < end and offsets[i] + frames[i] > start
        )
        windows.append(Window(start=start, end=end, parts=parts))
    return Timeline(
        frames=tuple(frames),
        transition=transition,
        offsets=tuple(offsets),
        total=total,
        pieces=tuple(pieces),
        windows=tuple(windows),
    )
