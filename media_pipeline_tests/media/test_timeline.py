"""timeline.plan: which frames are stream-copied and which windows are re-encoded, by frame arithmetic alone."""

from __future__ import annotations

from media_pipeline.media.timeline import Piece, Window, plan


def _covered(timeline) -> list[int]:
    frames = []
    for segment in timeline.segments():
        start = segment.at if isinstance(segment, Piece) else segment.start
        frames += range(start, start + segment.frames)
    return frames


def test_cuts_copy_every_clip_whole() -> None:
    timeline = plan([24, 36], 0, [[0], [0, 24]])
    assert timeline.pieces == (Piece(0, 0, 24, 0), Piece(1, 0, 36, 24)) and timeline.windows == ()
    assert timeline.total == 60 and timeline.encoded_frames == 0


def test_keyframes_at_the_transitions_leave_only_the_transitions_to_encode() -> None:
    timeline = plan([120, 120, 120], 12, [None, [0, 12, 108], None])
    assert timeline.total == 336 and timeline.offsets == (0, 108, 216)
    assert [w.frames for w in timeline.windows] == [12, 12]
    assert timeline.windows[0] == Window(108, 120, ((0, 108, 120), (1, 0, 12)))
    assert _covered(timeline) == list(range(336))


def test_keyframes_elsewhere_widen_the_window_to_them() -> None:
    timeline = plan([120, 120], 12, [[0, 48, 96], [0, 48, 96]])
    (window,) = timeline.windows
    assert window == Window(96, 156, ((0, 96, 120), (1, 0, 48)))  # back to 96 in clip 0, on to 48 in clip 1
    assert timeline.pieces == (Piece(0, 0, 96, 0), Piece(1, 48, 120, 156))
    assert _covered(timeline) == list(range(228))


def test_a_clip_without_a_copyable_stretch_merges_its_windows() -> None:
    timeline = plan([60, 60, 60], 12, [None, [0], None])  # the middle clip has no keyframe after its start
    (window,) = timeline.windows
    assert (window.start, window.end) == (48, 108)
    assert [c for c, _, _ in window.parts] == [0, 1, 2]
    assert _covered(timeline) == list(range(156))
