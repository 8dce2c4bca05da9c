"""Joining clips: a cut by stream copy when clips conform, crossfade / fade_black with only their windows encoded;
exact lengths, every shot in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_pipeline.media.conform import ConformSpec, is_conformant
from media_pipeline.media.errors import MediaError
from media_pipeline.media.frames import read_frame
from media_pipeline.media.probe import probe

from .clips import conformed_clip, dominant_frequency, is_stream_copy, make_clip, programme, rms_db, video_pts

SPEC = ConformSpec(width=320, height=180, fps=24)
SECONDS = [1.0, 1.5, 1.0]
TONES = [300, 500, 700]
FRAME = 1 / 24


@pytest.fixture(scope="module")
def conformed(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("conformed")
    return [
        conformed_clip(folder / f"c{i}.mp4", SPEC, seconds=s, frequency=f)
        for i, (s, f) in enumerate(zip(SECONDS, TONES, strict=True))
    ]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("mixed")
    return [
        make_clip(folder / "a.mp4", width=640, height=360, fps=30, pix_fmt="yuv444p", audio_rate=None, seconds=1.0),
        make_clip(
            folder / "b.mp4",
            width=320,
            height=240,
            fps=25,
            audio_rate=44100,
            channels=1,
            seconds=1.2,
            frequency=500,
        ),
        make_clip(folder / "c.mp4", width=180, height=320, fps=60, seconds=1.0, frequency=700),
    ]


def _assert_programme(path: Path, seconds: float) -> None:
    info = probe(path)
    assert is_conformant(info, SPEC)
    assert info.video_duration == pytest.approx(seconds, abs=FRAME / 2)
    assert info.frame_count == round(seconds * 24)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=FRAME)
    pts = video_pts(path)
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "video PTS must strictly increase"


def test_cut_of_conformant_clips_is_a_stream_copy(conformed: list[Path], tmp_path: Path) -> None:
    result = programme(conformed, tmp_path / "cut", transition="cut", spec=SPEC)

    assert result.stream_copied
    assert result.duration == pytest.approx(sum(SECONDS), abs=FRAME / 2)
    assert list(result.shot_offsets.values()) == pytest.approx([0.0, 1.0, 2.5])
    _assert_programme(result.master.path, sum(SECONDS))
    # the programme's video is the clips' bitstream, untouched
    assert is_stream_copy(result.master.path, conformed)


def test_cut_keeps_every_shot_in_sync(conformed: list[Path], tmp_path: Path) -> None:
    """Each shot's tone starts where its pictures start: no drift accumulates over the joins."""
    result = programme(conformed, tmp_path / "cut", transition="cut", spec=SPEC)
    for offset, seconds, tone in zip(result.shot_offsets.values(), SECONDS, TONES, strict=True):
        assert dominant_frequency(result.master.path, offset + 0.01, 0.1) == pytest.approx(tone, abs=15)
        assert dominant_frequency(result.master.path, offset + seconds - 0.11, 0.1) == pytest.approx(tone, abs=15)


def test_cut_of_mixed_clips_is_encoded_once(mixed: list[Path], tmp_path: Path) -> None:
    result = programme(mixed, tmp_path / "cut", transition="cut", spec=SPEC)
    expected = 1.0 + 29 / 24 + 1.0  # 1.2 s at 25 fps is 28.8 -> 29 frames at 24 fps
    assert not result.stream_copied
    assert not is_stream_copy(result.master.path, mixed)
    _assert_programme(result.master.path, expected)


def test_clips_with_other_encoder_settings_are_not_copied(conformed: list[Path], tmp_path: Path) -> None:
    """Conformant by their headers, but an ultrafast x264 stream cannot share one header with ours."""
    other = make_clip(tmp_path / "other.mp4", seconds=1.0, gop=48)
    assert is_conformant(probe(other), SPEC)
    result = programme([conformed[0], other], tmp_path / "cut", transition="cut", spec=SPEC)
    assert not result.stream_copied
    _assert_programme(result.master.path, 2.0)


@pytest.mark.parametrize("transition", ["crossfade", "fade_black"])
@pytest.mark.parametrize("inputs", ["conformed", "mixed"])
def test_transition_totals_are_exact(
    transition: str, inputs: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    clips = request.getfixturevalue(inputs)
    result = programme(clips, tmp_path / "x", transition=transition, transition_seconds=0.5, spec=SPEC)
    seconds = [probe(c).video_duration for c in clips]
    expected = sum(round(s * 24) for s in seconds) / 24 - 2 * 0.5
    assert not result.stream_copied
    assert result.transition_seconds == pytest.approx(0.5)
    assert result.duration == pytest.approx(expected, abs=FRAME / 2)
    _assert_programme(result.master.path, expected)


def test_fade_black_goes_through_black_and_silence(conformed: list[Path], tmp_path: Path) -> None:
    result = programme(conformed, tmp_path / "fb", transition="fade_black", transition_seconds=0.5, spec=SPEC)
    join = list(result.shot_offsets.values())[1]
    brightness = [read_frame(result.master.path, join + i / 24).mean() for i in range(12)]
    assert min(brightness) < 5 < 60 < read_frame(result.master.path, join + 0.6).mean()
    middle_of_join = join + 0.25
    assert rms_db(result.master.path, middle_of_join - 0.03, 0.06) < rms_db(result.master.path, 0.2, 0.2) - 20


def test_crossfade_mixes_both_shots(conformed: list[Path], tmp_path: Path) -> None:
    result = programme(conformed, tmp_path / "xf", transition="crossfade", transition_seconds=0.5, spec=SPEC)
    middle_of_join = list(result.shot_offsets.values())[1] + 0.25
    assert rms_db(result.master.path, middle_of_join - 0.03, 0.06) > rms_db(result.master.path, 0.2, 0.2) - 6


def test_transition_rounds_to_whole_frames(conformed: list[Path], tmp_path: Path) -> None:
    result = programme(conformed[:2], tmp_path / "x", transition="crossfade", transition_seconds=0.3, spec=SPEC)
    assert result.transition_seconds == pytest.approx(7 / 24)
    assert result.duration == pytest.approx(2.5 - 7 / 24, abs=FRAME / 2)


def test_clip_too_short_for_transition_names_the_shot(conformed: list[Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="'middle'"):
        programme(
            conformed,
            tmp_path / "x",
            transition="crossfade",
            transition_seconds=0.8,
            spec=SPEC,
            names=["first", "middle", "last"],
        )


def test_single_clip(conformed: list[Path], tmp_path: Path) -> None:
    result = programme(conformed[:1], tmp_path / "one", transition="crossfade", spec=SPEC)
    _assert_programme(result.master.path, 1.0)


@pytest.mark.parametrize("transition", ["cut", "crossfade", "fade_black"])
def test_the_same_clip_may_appear_twice(conformed: list[Path], tmp_path: Path, transition: str) -> None:
    clips = [conformed[0], conformed[1], conformed[0]]  # identical shots share one cached clip
    result = programme(clips, tmp_path / "x", transition=transition, transition_seconds=0.25, spec=SPEC)
    overlap = 0 if transition == "cut" else 2 * 0.25
    _assert_programme(result.master.path, SECONDS[0] * 2 + SECONDS[1] - overlap)
    assert result.stream_copied == (transition == "cut")
    assert dominant_frequency(result.master.path, result.duration - 0.4) == pytest.approx(TONES[0], abs=15)


def test_clips_without_audio_of_equal_length_get_their_own_silence(tmp_path: Path) -> None:
    silent = [
        make_clip(tmp_path / f"s{i}.mp4", width=320, height=180, fps=24, audio_rate=None, seconds=1.0) for i in range(2)
    ]
    result = programme(silent, tmp_path / "x", transition="crossfade", transition_seconds=0.25, spec=SPEC)
    _assert_programme(result.master.path, 2.0 - 0.25)
    assert rms_db(result.master.path, 0.2, 1.5) < -60
