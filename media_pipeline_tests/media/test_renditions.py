"""Renditions as ``assemble`` makes them: sizes keep the short side, crop vs blurred pad, every rendition as long
as the master with the same sound track, the master's own shape is the master itself."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from media_pipeline.media.assemble import Assembly, AssemblySpec, assemble
from media_pipeline.media.conform import ConformSpec
from media_pipeline.media.frames import read_frame
from media_pipeline.media.renditions import rendition_size

from .clips import conformed_clip

SPEC = ConformSpec(width=320, height=180, fps=24)
SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (180, 180)}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assembly]:
    folder = tmp_path_factory.mktemp("renditions")
    clips = [
        (f"s{i}", conformed_clip(folder / f"s{i}.mp4", SPEC, seconds=1.0, frequency=f))
        for i, f in enumerate((300, 500))
    ]
    made = {}
    for fit in ("crop", "pad"):
        spec = AssemblySpec(width=320, height=180, transition="crossfade", renditions=list(SIZES), fit=fit)
        made[fit] = assemble(clips, folder / fit, spec=spec, name="r")
    return made


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


@pytest.mark.parametrize("fit", ["crop", "pad"])
def test_reframed_renditions(delivered: dict[str, Assembly], fit: str) -> None:
    result = delivered[fit]
    master = result.master.info
    assert [r.aspect for r in result.renditions] == list(SIZES) and result.renditions[0] == result.master
    for rendition in result.renditions:
        info = rendition.info
        assert (info.width, info.height) == SIZES[rendition.aspect] == (rendition.width, rendition.height)
        assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
        assert info.frame_count == master.frame_count == 48 - 12
        assert info.video_duration == pytest.approx(master.video_duration)
        assert _audio_packets(rendition.path) == _audio_packets(result.master.path), "one sound track, copied"


def test_crop_shows_the_centre_of_the_master(delivered: dict[str, Assembly]) -> None:
    result = delivered["crop"]
    master = read_frame(result.master.path, 0.5).astype(float)
    square = read_frame(result.renditions[2].path, 0.5).astype(float)
    assert np.abs(master[:, 70:250] - square).mean() < 6  # 1:1 of a 320x180 master: its middle 180 columns


def test_pad_fits_the_whole_picture_over_a_blurred_copy(delivered: dict[str, Assembly]) -> None:
    padded = read_frame(delivered["pad"].renditions[1].path, "first").astype(float)
    cropped = read_frame(delivered["crop"].renditions[1].path, "first").astype(float)
    top_band = padded[:60]
    assert top_band.mean() > 20, "the band above the picture is the blurred picture, not black"
    assert np.abs(np.diff(top_band, axis=1)).mean() < np.abs(np.diff(padded[140:180], axis=1)).mean(), "blurred"
    assert not np.allclose(padded, cropped, atol=10)
