"""Programme audio: keep / mute / soundtrack, normalised to -16 LUFS, silence kept silent, video copied."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from media_pipeline.media.audio import TARGET_LUFS, measure_loudness, programme_audio
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.ffmpeg import ffmpeg_exe
from media_pipeline.media.probe import probe
from media_pipeline.media.stitch import stitch

from .clips import conformed_clip, dominant_frequency, make_clip, rms_db, video_packets

SPEC = ConformSpec(width=320, height=180, fps=24)


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("programme")
    clips = [conformed_clip(folder / f"c{i}.mp4", SPEC, seconds=1.5, frequency=f) for i, f in enumerate((300, 600))]
    return stitch(clips, folder / "programme.mp4", transition="cut", spec=SPEC).path


@pytest.fixture(scope="module")
def soundtrack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1.2 s mono 44.1 kHz tone: shorter than the programme, so it has to loop."""
    out = tmp_path_factory.mktemp("music") / "music.wav"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:r=44100:d=1.2",
            "-af",
            "volume=-12dB",
            str(out),
        ],
        check=True,
    )
    return out


def _assert_same_video_and_length(programme: Path, out: Path) -> None:
    assert video_packets(out) == video_packets(programme), "video must be stream-copied"
    before, after = probe(programme), probe(out)
    assert after.video_duration == pytest.approx(before.video_duration)
    assert after.audio_duration == pytest.approx(after.video_duration, abs=1 / 24)
    assert (after.audio_codec, after.audio_rate, after.audio_channels) == ("aac", 48000, 2)


def test_measure_loudness_of_a_tone(programme: Path) -> None:
    # testsrc sine at amplitude 1/8, stereo, through AAC: about -21.8 LUFS
    assert measure_loudness(programme) == pytest.approx(-21.8, abs=1.0)


def test_keep_is_normalised(programme: Path, tmp_path: Path) -> None:
    result = programme_audio(programme, tmp_path / "keep.mp4", audio="keep", spec=SPEC)
    assert result.normalized
    assert result.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    assert measure_loudness(result.path) == pytest.approx(TARGET_LUFS, abs=1.0)
    _assert_same_video_and_length(programme, result.path)
    assert dominant_frequency(result.path, 0.2) == pytest.approx(300, abs=15)


def test_mute_is_silent_and_not_normalised(programme: Path, tmp_path: Path) -> None:
    result = programme_audio(programme, tmp_path / "mute.mp4", audio="mute", spec=SPEC)
    assert result.loudness_lufs is None and not result.normalized
    assert measure_loudness(result.path) == pytest.approx(-70.0)
    _assert_same_video_and_length(programme, result.path)


def test_silent_clips_stay_silent(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "silent.mp4", audio_rate=None, seconds=1.0)
    conformed = stitch([clip], tmp_path / "programme.mp4", spec=SPEC).path  # gets a silent track
    result = programme_audio(conformed, tmp_path / "keep.mp4", audio="keep", spec=SPEC)
    assert result.loudness_lufs is None
    assert measure_loudness(result.path) == pytest.approx(-70.0)


def test_soundtrack_replaces_and_loops(programme: Path, soundtrack: Path, tmp_path: Path) -> None:
    result = programme_audio(programme, tmp_path / "music.mp4", audio="mute", soundtrack=soundtrack, spec=SPEC)
    assert result.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    _assert_same_video_and_length(programme, result.path)
    assert dominant_frequency(result.path, 1.5) == pytest.approx(220, abs=15)  # looped past its 1.2 s
    assert dominant_frequency(result.path, 2.0) == pytest.approx(220, abs=15)
    # faded in and out
    assert rms_db(result.path, 0.0, 0.1) < rms_db(result.path, 1.4, 0.2) - 10
    assert rms_db(result.path, 2.9, 0.1) < rms_db(result.path, 1.4, 0.2) - 10


def test_soundtrack_mixed_under_clip_sound(programme: Path, soundtrack: Path, tmp_path: Path) -> None:
    result = programme_audio(programme, tmp_path / "mix.mp4", audio="keep", soundtrack=soundtrack, spec=SPEC)
    assert result.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    _assert_same_video_and_length(programme, result.path)
    assert dominant_frequency(result.path, 2.0, 0.2) == pytest.approx(600, abs=15)  # clip sound on top


def test_short_programme_still_hits_target(tmp_path: Path) -> None:
    short = conformed_clip(tmp_path / "short.mp4", SPEC, seconds=1.0)
    result = programme_audio(short, tmp_path / "keep.mp4", audio="keep", spec=SPEC)
    assert measure_loudness(result.path) == pytest.approx(TARGET_LUFS, abs=1.0)
