"""extract_frame / read_frame / poster: exact decoded pixels of the right frame, lossless PNG, JPEG poster."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from media_pipeline.media.animate import animate_still
from media_pipeline.media.errors import MediaError
from media_pipeline.media.frames import extract_frame, poster, read_frame, read_frames
from media_pipeline.media.quality import ssim

from .test_animate import picture


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    src = picture(folder / "src.png")
    return animate_still(
        src, folder / "clip.mp4", prompt="pan right", duration=2, resolution="180p", aspect_ratio="16:9"
    )


@pytest.fixture(scope="module")
def decoded(clip: Path) -> list[np.ndarray]:
    with av.open(str(clip)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_last_frame_png_is_exactly_the_decoded_last_frame(
    clip: Path, decoded: list[np.ndarray], tmp_path: Path
) -> None:
    out = extract_frame(clip, tmp_path / "last.png", which="last")
    with Image.open(out) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (320, 180))
        pixels = np.asarray(img)
    assert np.array_equal(pixels, decoded[-1])
    assert np.array_equal(read_frame(clip, "last"), decoded[-1])
    assert not np.array_equal(decoded[-1], decoded[0])


def test_first_and_timed_frames(clip: Path, decoded: list[np.ndarray], tmp_path: Path) -> None:
    assert np.array_equal(read_frame(clip, "first"), decoded[0])
    assert np.array_equal(read_frame(clip, 0.0), decoded[0])
    assert np.array_equal(read_frame(clip, 1.0), decoded[24])  # frame 24 starts at exactly 1 s
    assert np.array_equal(read_frame(clip, 1.0 + 0.5 / 24), decoded[24])  # still on screen half a frame later
    assert np.array_equal(read_frame(clip, 99.0), decoded[-1])  # past the end: the last frame
    out = extract_frame(clip, tmp_path / "sub" / "t.png", which=1.5)
    assert np.array_equal(np.asarray(Image.open(out)), decoded[36])


def test_several_frames_from_one_opening_in_any_order(clip: Path, decoded: list[np.ndarray]) -> None:
    """What the contact sheet reads (first and end frames of a clip in one opening), and the first frame asked
    for after a later one (the file is read again from its start)."""
    frames = read_frames(clip, ["first", "last", 1.0, "first"])
    for got, want in zip(frames, [decoded[0], decoded[-1], decoded[24], decoded[0]], strict=True):
        assert np.array_equal(got, want)


def test_chained_shot_starts_from_the_exact_last_frame(clip: Path, tmp_path: Path) -> None:
    still = extract_frame(clip, tmp_path / "handoff.png", which="last")
    follow = animate_still(
        still, tmp_path / "next.mp4", prompt="zoom in", duration=1, resolution="180p", aspect_ratio="16:9"
    )
    assert ssim(read_frame(follow, "first"), read_frame(clip, "last")) >= 0.95


def test_poster_defaults_to_the_middle(clip: Path, decoded: list[np.ndarray], tmp_path: Path) -> None:
    out = poster(clip, tmp_path / "poster.jpg")
    with Image.open(out) as img:
        assert (img.format, img.size) == ("JPEG", (320, 180))
        pixels = np.asarray(img.convert("RGB"))
    assert ssim(pixels, decoded[24]) > 0.95
    assert ssim(pixels, decoded[24]) > ssim(pixels, decoded[0])
    at_start = poster(clip, tmp_path / "start.jpg", at=0)
    assert ssim(np.asarray(Image.open(at_start).convert("RGB")), decoded[0]) > 0.95


def test_not_a_video_raises_media_error(tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00" * 1000)
    with pytest.raises(MediaError, match="clip.mp4"):
        read_frame(bad, "last")
    with pytest.raises(MediaError, match="clip.mp4"):
        poster(bad, tmp_path / "p.jpg")
