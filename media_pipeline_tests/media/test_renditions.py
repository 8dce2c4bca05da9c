"""Renditions: sizes keep the short side, crop vs blurred pad, audio copied, same aspect is a copy."""

from __future__ import annotations

import filecmp
from pathlib import Path

import av
import numpy as np
import pytest

from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.frames import read_frame
from media_pipeline.media.probe import probe
from media_pipeline.media.renditions import rendition, rendition_size

from .clips import conformed_clip

SPEC = ConformSpec(width=320, height=180, fps=24)


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return conformed_clip(tmp_path_factory.mktemp("master") / "master.mp4", SPEC, seconds=1.0)


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


@pytest.mark.parametrize(
    ("size", "aspect", "expected"),
    [
        ((1280, 720), "9:16", (720, 1280)),
        ((1280, 720), "1:1", (720, 720)),
        ((1280, 720), "16:9", (1280, 720)),
        ((720, 1280), "16:9", (1280, 720)),
        ((854, 480), "9:16", (480, 854)),
        ((1920, 1080), "1:1", (1080, 1080)),
    ],
)
def test_rendition_size_keeps_the_short_side(size: tuple[int, int], aspect: str, expected: tuple[int, int]) -> None:
    assert rendition_size(*size, aspect) == expected


def test_rendition_size_with_explicit_short_side() -> None:
    assert rendition_size(1280, 720, "9:16", short_side=480) == (480, 854)


@pytest.mark.parametrize("fit", ["crop", "pad"])
@pytest.mark.parametrize(("aspect", "size"), [("9:16", (180, 320)), ("1:1", (180, 180))])
def test_reframed_renditions(master: Path, tmp_path: Path, fit: str, aspect: str, size: tuple[int, int]) -> None:
    out = rendition(master, tmp_path / "r.mp4", aspect=aspect, fit=fit)
    info, source = probe(out), probe(master)
    assert (info.width, info.height) == size
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.frame_count == source.frame_count
    assert info.video_duration == pytest.approx(source.video_duration)
    assert _audio_packets(out) == _audio_packets(master), "audio must be stream-copied"


def test_pad_fits_the_whole_picture_over_a_blurred_copy(master: Path, tmp_path: Path) -> None:
    padded = read_frame(rendition(master, tmp_path / "pad.mp4", aspect="9:16", fit="pad"), "first").astype(float)
    cropped = read_frame(rendition(master, tmp_path / "crop.mp4", aspect="9:16", fit="crop"), "first").astype(float)
    top_band = padded[:60]
    assert top_band.mean() > 20, "the band above the picture is the blurred picture, not black"
    assert np.abs(np.diff(top_band, axis=1)).mean() < np.abs(np.diff(padded[140:180], axis=1)).mean(), "blurred"
    assert not np.allclose(padded, cropped, atol=10)


def test_same_aspect_is_a_copy(master: Path, tmp_path: Path) -> None:
    out = rendition(master, tmp_path / "same.mp4", aspect="16:9", fit="pad")
    assert filecmp.cmp(out, master, shallow=False)


def test_other_short_side_is_scaled(master: Path, tmp_path: Path) -> None:
    info = probe(rendition(master, tmp_path / "small.mp4", aspect="16:9", short_side=90))
    assert (info.width, info.height) == (160, 90)
