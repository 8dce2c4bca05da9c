"""normalize_image: accepted inputs become upright 8-bit sRGB PNGs; everything else is a MediaError."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from media_pipeline.media.errors import MediaError
from media_pipeline.media.images import ImageInfo, cover_crop, normalize_image


def _gradient(width: int = 160, height: int = 120) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def _png(path: Path) -> Image.Image:
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return img


def test_jpeg_to_png_with_hash_and_deterministic_bytes(tmp_path: Path) -> None:
    src = tmp_path / "photo.jpg"
    _gradient().save(src, quality=92)
    first = normalize_image(src, tmp_path / "a.png")
    second = normalize_image(src, tmp_path / "b.png")
    assert isinstance(first, ImageInfo)
    assert (first.width, first.height, first.source_format) == (160, 120, "JPEG")
    assert first.sha256 == hashlib.sha256((tmp_path / "a.png").read_bytes()).hexdigest()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert first == second
    img = _png(tmp_path / "a.png")
    assert img.mode == "RGB" and not img.info.get("icc_profile") and "exif" not in img.info


def test_exif_orientation_6_comes_out_upright(tmp_path: Path) -> None:
    # Stored 200x100 with red left / blue right; Orientation=6 means "rotate 90 deg clockwise to display".
    stored = Image.new("RGB", (200, 100), (255, 0, 0))
    stored.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "rotated.jpg"
    stored.save(src, exif=exif.tobytes(), quality=95)
    info = normalize_image(src, tmp_path / "upright.png")
    assert (info.width, info.height) == (100, 200)
    pixels = np.asarray(_png(tmp_path / "upright.png")).astype(int)
    top, bottom = pixels[20, 50], pixels[180, 50]
    assert top[0] > 200 and top[2] < 60  # the stored left (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize(
    ("mode", "ext", "expected"),
    [
        ("CMYK", "jpg", None),
        ("RGBA", "png", (255, 255, 255)),
        ("LA", "png", (255, 255, 255)),
        ("P", "png", None),
        ("L", "png", None),
        ("I;16", "png", None),
        ("1", "png", None),
    ],
)
def test_any_mode_becomes_rgb8(tmp_path: Path, mode: str, ext: str, expected: tuple[int, int, int] | None) -> None:
    base = _gradient()
    if mode == "RGBA":
        img = base.convert("RGBA")
        img.putalpha(Image.new("L", base.size, 255))
        img.paste((0, 0, 0, 0), (0, 0, 40, 40))  # a fully transparent corner
    elif mode == "LA":
        img = base.convert("LA")
        img.paste((0, 0), (0, 0, 40, 40))
    elif mode == "I;16":
        ramp = np.linspace(0, 65535, base.width, dtype=np.uint16)[None, :].repeat(base.height, 0)
        img = Image.frombytes("I;16", base.size, ramp.tobytes())
    else:
        img = base.convert(mode)
    src = tmp_path / f"in.{ext}"
    img.save(src)
    info = normalize_image(src, tmp_path / "out.png")
    out = _png(tmp_path / "out.png")
    arr = np.asarray(out)
    assert out.mode == "RGB" and arr.dtype == np.uint8 and arr.shape == (120, 160, 3)
    assert (info.width, info.height) == (160, 120)
    if expected is not None:
        assert tuple(arr[5, 5]) == expected  # transparency composited on white
    if mode == "I;16":
        # 16-bit values are scaled to 8 bits, not clipped: the ramp still spans the full range.
        assert arr[60, 0, 0] <= 2 and arr[60, -1, 0] >= 253 and 100 < arr[60, 80, 0] < 155
    if mode == "CMYK":
        assert np.abs(arr.astype(int) - np.asarray(base).astype(int)).mean() < 12


def test_icc_profiles_are_applied_or_ignored_when_broken(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    _gradient().save(good, icc_profile=srgb)
    _gradient().save(bad, icc_profile=b"not an icc profile")
    for src in (good, bad):
        normalize_image(src, tmp_path / "out.png")
        arr = np.asarray(_png(tmp_path / "out.png")).astype(int)
        assert np.abs(arr - np.asarray(_gradient()).astype(int)).max() <= 3


def test_long_side_is_limited(tmp_path: Path) -> None:
    src = tmp_path / "wide.png"
    _gradient(900, 300).save(src)
    info = normalize_image(src, tmp_path / "out.png", max_side=600)
    assert (info.width, info.height) == (600, 200)
    assert _png(tmp_path / "out.png").size == (600, 200)


def test_corrupt_file_raises_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "garbage.jpg"
    src.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError, match="garbage.jpg"):
        normalize_image(src, tmp_path / "out.png")


def test_truncated_jpeg_raises(tmp_path: Path) -> None:
    buf = io.BytesIO()
    _gradient(400, 300).save(buf, format="JPEG")
    src = tmp_path / "cut.jpg"
    src.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(MediaError, match="cut.jpg"):
        normalize_image(src, tmp_path / "out.png")


@pytest.mark.parametrize("ext", ["gif", "webp"])
def test_animated_images_are_rejected(tmp_path: Path, ext: str) -> None:
    frames = [_gradient(), _gradient().rotate(180)]
    src = tmp_path / f"anim.{ext}"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with pytest.raises(MediaError, match=rf"anim\.{ext}.*frames"):
        normalize_image(src, tmp_path / "out.png")


def test_too_small_is_rejected(tmp_path: Path) -> None:
    src = tmp_path / "icon.png"
    _gradient(32, 200).save(src)
    with pytest.raises(MediaError, match="icon.png.*too small"):
        normalize_image(src, tmp_path / "out.png")


def test_cover_crop_fills_and_centres() -> None:
    img = Image.new("RGB", (400, 100), (0, 0, 0))
    img.paste((255, 255, 255), (180, 0, 220, 100))  # a white band in the middle
    out = cover_crop(img, (100, 100))
    assert out.size == (100, 100)
    assert np.asarray(out)[50, 50].min() > 240 and np.asarray(out)[50, 2].max() < 15


def test_absurd_dimensions_are_rejected(tmp_path: Path) -> None:
    src = tmp_path / "banner.png"
    Image.new("L", (20_001, 64)).save(src)
    with pytest.raises(MediaError, match="banner.png.*too large"):
        normalize_image(src, tmp_path / "out.png")
