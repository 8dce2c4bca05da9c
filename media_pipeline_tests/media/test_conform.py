"""conform: any mix of inputs to exactly one spec, with audio as long as video; is_conformant to skip it."""

from __future__ import annotations

from pathlib import Path

import pytest

from media_pipeline.media.audio import measure_loudness
from media_pipeline.media.conform import ConformSpec, conform, is_conformant
from media_pipeline.media.errors import MediaError
from media_pipeline.media.probe import probe

from .clips import make_clip

SPEC = ConformSpec(width=320, height=180, fps=24)

MIXED = {
    # name: (make_clip kwargs, expected conformed seconds)
    "444_30fps_silent": (
        dict(width=640, height=360, fps=30, pix_fmt="yuv444p", audio_rate=None, seconds=1.5),
        1.5,
    ),
    "4x3_25fps_mono44k_short_audio": (
        dict(width=320, height=240, fps=25, audio_rate=44100, channels=1, seconds=1.2, audio_seconds=0.8),
        1.2083,
    ),
    "portrait_60fps_long_audio": (dict(width=180, height=320, fps=60, seconds=1.0, audio_seconds=1.6), 1.0),
    "odd_size_15fps": (dict(width=250, height=142, fps=15, pix_fmt="yuv422p", seconds=1.0), 1.0),
}


@pytest.mark.parametrize("name", list(MIXED))
def test_mixed_inputs_conform_to_one_spec(tmp_path: Path, name: str) -> None:
    kwargs, seconds = MIXED[name]
    src = make_clip(tmp_path / "src.mp4", **kwargs)
    assert not is_conformant(probe(src), SPEC)

    info = probe(conform(src, tmp_path / "out.mp4", SPEC))

    assert is_conformant(info, SPEC)
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 320, 180)
    assert info.fps == pytest.approx(24)
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("aac", 48000, 2)
    assert info.frame_count == round(seconds * 24)
    assert info.video_duration == pytest.approx(seconds, abs=1 / 24)
    assert info.audio_duration == pytest.approx(info.video_duration, abs=1 / 24 / 2)


def test_conformant_clip_is_recognised(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "ok.mp4", width=320, height=180, fps=24, seconds=1.0)
    assert is_conformant(probe(clip), SPEC)
    assert not is_conformant(probe(clip), ConformSpec(width=640, height=360, fps=24))
    assert not is_conformant(probe(clip), ConformSpec(width=320, height=180, fps=30))


def test_audio_video_mismatch_is_not_conformant(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "short_audio.mp4", seconds=1.0, audio_seconds=0.5)
    assert not is_conformant(probe(clip), SPEC)
    fixed = probe(conform(clip, tmp_path / "fixed.mp4", SPEC))
    assert fixed.audio_duration == pytest.approx(1.0, abs=1e-3)


def test_mute_replaces_audio_with_silence(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "loud.mp4", seconds=1.0)
    out = conform(clip, tmp_path / "muted.mp4", SPEC, audio="mute")
    info = probe(out)
    assert is_conformant(info, SPEC)
    assert measure_loudness(out) == pytest.approx(-70.0)


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    bogus = tmp_path / "not_a_video.mp4"
    bogus.write_text("hello")
    with pytest.raises(MediaError, match="not_a_video.mp4"):
        conform(bogus, tmp_path / "out.mp4", SPEC)
