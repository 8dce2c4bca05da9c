"""join: pieces laid end to end by packet copy, refusing what would not play as one stream; split: the reverse."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.errors import MediaError
from media_pipeline.media.join import Segment, join, split

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


def test_split_cuts_at_keyframes_in_one_pass_and_joins_back(clip: Path, tmp_path: Path) -> None:
    pieces = [(0, 12, tmp_path / "a.mp4"), (12, 48, tmp_path / "b.mp4")]
    split(clip, pieces, SPEC.fps)
    packets = video_packets(clip)
    assert video_packets(pieces[0][2]) == packets[:12] and video_packets(pieces[1][2]) == packets[12:]
    assert len(decoded_frames(pieces[1][2])) == 36
    assert min(p for _, p in packet_timestamps(pieces[1][2])) == 0, "each piece starts at time zero"
    back = join([Segment(path, 0, end - first) for first, end, path in pieces], tmp_path / "back.mp4", SPEC.fps)
    assert video_packets(back) == packets
    assert packet_timestamps(back) == packet_timestamps(join([Segment(clip, 0, 48)], tmp_path / "c.mp4", SPEC.fps))


def test_split_refuses_a_piece_that_does_not_start_on_a_keyframe(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="frame 5 is not a keyframe"):
        split(clip, [(5, 48, tmp_path / "b.mp4")], SPEC.fps)
