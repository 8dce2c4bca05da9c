"""Validate and normalize still images with Pillow: upright, sRGB, 8-bit RGB, bounded size, deterministic PNG.

Every later stage (hosting, generation, first-frame checks) sees the same pixels, so the content hash of the
normalized PNG is a stable cache key for the image.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from pydantic import BaseModel

from media_pipeline.media.errors import MediaError
from media_pipeline.media.files import atomic_path

MIN_SIDE = 64
MAX_SIDE = 20_000
MAX_PIXELS = 150_000_000
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class ImageInfo(BaseModel):
    """What ``normalize_image`` wrote: the PNG's size, its content hash and the format the source was in."""

    width: int
    height: int
    sha256: str
    source_format: str


def _open(src: Path) -> Image.Image:
    """Open ``src`` lazily and check its header: one still frame of a sane size, else ``MediaError``."""
    try:
        with warnings.catch_warnings():
            # Our own pixel limit below applies; Pillow still refuses true decompression bombs outright.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(src)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{src}: not a decodable image ({exc})") from exc
    except OSError as exc:
        raise MediaError(f"{src}: cannot read image ({exc})") from exc
    try:
        _check_still(src, img)
    except MediaError:
        img.close()
        raise
    return img


def _check_still(src: Path, img: Image.Image) -> None:
    """One still frame of a sane size, from the header alone; ``MediaError`` naming ``src`` otherwise."""
    # MPO (phone JPEGs with a depth or preview image) is a still photo; its first frame is the picture.
    if getattr(img, "n_frames", 1) > 1 and img.format != "MPO":
        raise MediaError(f"{src}: {img.n_frames} frames (animated or multi-page); a still image is required")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise MediaError(f"{src}: zero-size image ({width}x{height})")
    if width < MIN_SIDE or height < MIN_SIDE:
        raise MediaError(f"{src}: {width}x{height} is too small; each side must be at least {MIN_SIDE} px")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise MediaError(f"{src}: {width}x{height} is too large (max {MAX_SIDE} px a side, {MAX_PIXELS} px)")


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit or float single-channel images to 8-bit ``L`` (Pillow's own convert clips instead)."""
    arr = np.asarray(img).astype(np.float64)
    if img.mode == "F":
        top = float(arr.max()) if arr.size else 1.0
        scale = 255.0 / top if top > 0 else 1.0
    else:
        scale = 1.0 if arr.size and arr.max() <= 255 else 255.0 / 65535.0
    return Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8))


def to_srgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any Pillow mode to 8-bit sRGB ``RGB``: ICC profile applied, alpha composited on ``background``."""
    icc = img.info.get("icc_profile")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("PA", "RGBa", "La"):
        img = img.convert("RGBA")
    elif img.mode in _HIGH_DEPTH_MODES:
        img = _to_8bit(img)
    elif img.mode == "1":
        img = img.convert("L")
    alpha = None
    if img.mode in ("RGBA", "LA"):
        alpha = img.getchannel("A")
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
    if icc:
        try:
            src_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            img = ImageCms.profileToProfile(
                img, src_profile, _SRGB, outputMode="RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken or mismatched profile: fall back to Pillow's plain conversion below
    if img.mode != "RGB":
        img = img.convert("RGB")
    if alpha is not None:
        canvas = Image.new("RGB", img.size, background)
        canvas.paste(img, mask=alpha)
        img = canvas
    return img


def load_rgb(
    src: Path, *, max_side: int | None = None, background: tuple[int, int, int] = (255, 255, 255)
) -> Image.Image:
    """Decode ``src`` to an upright 8-bit sRGB image, validated as ``normalize_image`` validates it."""
    src = Path(src)
    with _open(src) as img:
        if max_side and img.format == "JPEG":
            img.draft("RGB" if img.mode == "RGB" else None, (max_side, max_side))  # DCT-domain shrink: fast
        try:
            img.load()
            upright = ImageOps.exif_transpose(img)
            rgb = to_srgb(upright, background)
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(f"{src}: cannot decode image ({exc})") from exc
    if max_side and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return rgb


def normalize_image(
    src: Path, dest: Path, *, max_side: int = 2048, background: tuple[int, int, int] = (255, 255, 255)
) -> ImageInfo:
    """Write ``src`` as an upright sRGB 8-bit RGB PNG at ``dest`` with its long side at most ``max_side``.

    Rejects (``MediaError`` naming the file) what is not one decodable still frame of 64 to 20000 px a side.
    Transparency is composited on ``background``. The PNG has no metadata, so equal inputs give equal bytes.
    """
    src, dest = Path(src), Path(dest)
    with _open(src) as header:
        source_format = header.format or "unknown"
    img = load_rgb(src, max_side=max_side, background=background)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    data = buf.getvalue()
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return ImageInfo(width=img.width, height=img.height, sha256=digest, source_format=source_format)


def cover_crop(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale ``img`` to cover ``size`` and centre-crop the overflow: how a still fills a video frame."""
    if img.size == size:
        return img.copy()
    return ImageOps.fit(img, size, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
