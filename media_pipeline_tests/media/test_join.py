"""join: pieces laid end to end by packet copy, refusing what would not play as one stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.errors import MediaError
from media_pipeline.media.join import Segment, join

from .clips import decoded_frames, marked_clip, packet_timestamps, video_packets

SPEC = ConformSpec(width=320, height=180, fps=24)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return marked_clip(tmp_path_factory.mktemp("join") / "a.mp4", seconds=2.0, spec=SPEC, keyframes=(12,))


def test_pieces_are_copied_and_retimed(clip: Path, tmp_path: Path) -> None:
    out = join([Segment(clip, 12, 48), Segment(clip, 0, 12), Segment(clip, 12, 24)], tmp_path / "j.mp4", SPEC.fps)
    frames, source = decoded_frames(out), decoded_frames(clip)
    assert len(frames) == 36 + 12 + 12
    assert (frames[0] == source[12]).all() and (frames[36] == source[0]).all() and (frames[48] == source[12]).all()
    stamps = packet_timestamps(out)
    assert all(b[0] > a[0] for a, b in zip(stamps, stamps[1:], strict=False))
    step = 1 / 24
    pts = sorted(p for _, p in stamps)
    assert pts == [pts[0] + i * (pts[1] - pts[0]) for i in range(60)] and step
    packets = video_packets(clip)
    assert video_packets(out)[:36] == packets[12:48], "copied, not re-encoded"


def test_a_piece_must_start_on_a_keyframe(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="frame 5 is not a keyframe"):
        join([Segment(clip, 5, 12)], tmp_path / "j.mp4", SPEC.fps)


def test_pieces_must_share_parameter_sets(clip: Path, tmp_path: Path) -> None:
    other = marked_clip(tmp_path / "other.mp4", seconds=1.0)  # foreign encoder settings
    with pytest.raises(MediaError, match="other H.264 parameters"):
        join([Segment(clip, 0, 12), Segment(other, 0, 24)], tmp_path / "j.mp4", SPEC.fps)
