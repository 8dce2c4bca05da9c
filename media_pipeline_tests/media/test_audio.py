"""Programme sound as ``assemble`` makes it: keep / mute / soundtrack, measured once and normalised to -16 LUFS
with one gain, silence kept silent, the clips' picture stream-copied and the sound exactly as long."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from media_pipeline.media.assemble import Assembly, AssemblySpec, assemble
from media_pipeline.media.audio import TARGET_LUFS, measure_loudness
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.ffmpeg import ffmpeg_exe

from .clips import conformed_clip, dominant_frequency, is_stream_copy, make_clip, rms_db

SPEC = ConformSpec(width=320, height=180, fps=24)
TONE_LUFS = -21.8  # a lavfi sine at amplitude 1/8, stereo, through AAC


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("clips")
    return [
        (f"tone{f}", conformed_clip(folder / f"c{i}.mp4", SPEC, seconds=1.5, frequency=f))
        for i, f in enumerate((300, 600))
    ]


@pytest.fixture(scope="module")
def soundtrack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1.2 s mono 44.1 kHz tone: shorter than the programme, so it has to loop."""
    out = tmp_path_factory.mktemp("music") / "music.wav"
    tone = ["-f", "lavfi", "-i", "sine=f=220:r=44100:d=1.2", "-af", "volume=-12dB"]
    subprocess.run([ffmpeg_exe(), "-v", "error", *tone, str(out)], check=True)
    return out


def _deliver(
    clips: list[tuple[str, Path]], folder: Path, audio: str = "keep", soundtrack: Path | None = None
) -> Assembly:
    spec = AssemblySpec(width=SPEC.width, height=SPEC.height, transition="cut", audio=audio)
    return assemble(clips, folder, spec=spec, name="programme", soundtrack=soundtrack)


def _assert_copied_and_as_long(result: Assembly, clips: list[tuple[str, Path]]) -> None:
    assert is_stream_copy(result.master.path, [path for _, path in clips]), "picture must be stream-copied"
    info = result.master.info
    assert info.video_duration == pytest.approx(1.5 * len(clips), abs=1e-3)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=1 / 24)
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("aac", 48000, 2)


def test_measure_loudness_of_a_tone(clips: list[tuple[str, Path]]) -> None:
    assert measure_loudness(clips[0][1]) == pytest.approx(TONE_LUFS, abs=1.0)


def test_keep_is_measured_once_and_normalised(clips: list[tuple[str, Path]], tmp_path: Path) -> None:
    result = _deliver(clips, tmp_path)
    assert result.measured_lufs == pytest.approx(TONE_LUFS, abs=1.0)  # the one analysis, kept in the record
    assert result.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    assert measure_loudness(result.master.path) == pytest.approx(TARGET_LUFS, abs=1.0)
    _assert_copied_and_as_long(result, clips)
    assert dominant_frequency(result.master.path, 0.2) == pytest.approx(300, abs=15)
    assert dominant_frequency(result.master.path, 2.0) == pytest.approx(600, abs=15)


def test_mute_is_silent_and_not_normalised(clips: list[tuple[str, Path]], tmp_path: Path) -> None:
    result = _deliver(clips, tmp_path, audio="mute")
    assert result.loudness_lufs is None and result.measured_lufs is None
    assert measure_loudness(result.master.path) == pytest.approx(-70.0)
    _assert_copied_and_as_long(result, clips)


def test_silent_clips_stay_silent(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "silent.mp4", audio_rate=None, seconds=1.0)
    result = _deliver([("silent", clip)], tmp_path / "out")  # conformed: it gets a silent track
    assert result.loudness_lufs is None
    assert measure_loudness(result.master.path) == pytest.approx(-70.0)


def test_soundtrack_replaces_and_loops(clips: list[tuple[str, Path]], soundtrack: Path, tmp_path: Path) -> None:
    result = _deliver(clips, tmp_path, audio="mute", soundtrack=soundtrack)
    assert result.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    _assert_copied_and_as_long(result, clips)
    out = result.master.path
    assert dominant_frequency(out, 1.5) == pytest.approx(220, abs=15)  # looped past its 1.2 s
    assert dominant_frequency(out, 2.0) == pytest.approx(220, abs=15)
    # faded in and out
    assert rms_db(out, 0.0, 0.1) < rms_db(out, 1.4, 0.2) - 10
    assert rms_db(out, 2.9, 0.1) < rms_db(out, 1.4, 0.2) - 10


def test_soundtrack_mixed_under_clip_sound(clips: list[tuple[str, Path]], soundtrack: Path, tmp_path: Path) -> None:
    result = _deliver(clips, tmp_path, audio="keep", soundtrack=soundtrack)
    assert result.loudness_lufs == pytest.approx(TARGET_LUFS, abs=1.0)
    _assert_copied_and_as_long(result, clips)
    assert dominant_frequency(result.master.path, 2.0, 0.2) == pytest.approx(600, abs=15)  # clip sound on top


def test_short_programme_still_hits_target(tmp_path: Path) -> None:
    short = conformed_clip(tmp_path / "short.mp4", SPEC, seconds=1.0)
    result = _deliver([("short", short)], tmp_path / "out")
    assert measure_loudness(result.master.path) == pytest.approx(TARGET_LUFS, abs=1.0)
