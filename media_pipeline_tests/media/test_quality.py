"""ssim, image_array and first_frame_fidelity behave as a first-frame check needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from media_pipeline.media.animate import animate_still
from media_pipeline.media.quality import first_frame_fidelity, image_array, ssim

from .test_animate import picture


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return picture(tmp_path_factory.mktemp("quality") / "img.png", (320, 240))


def test_ssim_of_an_image_with_itself_is_one(image: Path) -> None:
    a = image_array(image)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a.astype(np.float32), a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_falls_with_damage(image: Path) -> None:
    a = image_array(image)
    noise = np.random.default_rng(0).integers(0, 256, a.shape, dtype=np.uint8)
    blurred = np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(3)))
    assert ssim(a, noise) < 0.3
    assert 0.5 < ssim(a, blurred) < 0.99
    assert ssim(a, noise) < ssim(a, blurred)
    assert ssim(a, blurred) == pytest.approx(ssim(blurred, a), abs=1e-9)


def test_ssim_resizes_and_accepts_gray(image: Path) -> None:
    a = image_array(image)
    half = np.asarray(Image.fromarray(a).resize((160, 120), Image.Resampling.LANCZOS))
    assert ssim(a, half) > 0.85
    gray = np.asarray(Image.fromarray(a).convert("L"))
    assert ssim(gray, a) > 0.99
    with pytest.raises(ValueError):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))


def test_image_array_is_upright_rgb8(tmp_path: Path) -> None:
    stored = Image.new("RGB", (200, 100), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "r.jpg", exif=exif.tobytes())
    arr = image_array(tmp_path / "r.jpg")
    assert arr.dtype == np.uint8 and arr.shape == (200, 100, 3)


def test_first_frame_fidelity(image: Path, tmp_path: Path) -> None:
    clip = animate_still(
        image, tmp_path / "c.mp4", prompt="dolly in", duration=1, resolution="180p", aspect_ratio="9:16"
    )
    other = tmp_path / "other.png"
    Image.open(image).transpose(Image.Transpose.ROTATE_180).save(other)  # same content, wrong way round
    assert first_frame_fidelity(clip, image) >= 0.9
    assert first_frame_fidelity(clip, other) < 0.85  # below the check's 0.9 bar
