"""Image similarity with numpy only: SSIM for "is this frame the picture it should be" checks and tests.

SSIM (Wang et al. 2004) on luma with an 11-tap Gaussian window (sigma 1.5), after the paper's recommended
downsampling to a ~256 px short side, which keeps it fast at 1080p and closer to perceived similarity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from media_pipeline.media.frames import read_frame
from media_pipeline.media.images import cover_crop, load_rgb

_K1, _K2, _L = 0.01, 0.03, 255.0
_C1, _C2 = (_K1 * _L) ** 2, (_K2 * _L) ** 2


def _gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    return kernel / kernel.sum()


_WINDOW = _gaussian()


def _luma(image: np.ndarray) -> Image.Image:
    """An RGB/gray array (any numeric dtype on a 0-255 scale) as a float32 ``F`` image of BT.601 luma."""
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[2] >= 3:
        arr = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
    elif arr.ndim == 3:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"expected an HxW or HxWxC image array, got shape {np.shape(image)}")
    return Image.fromarray(arr)


def _filter(x: np.ndarray) -> np.ndarray:
    """Separable 'valid' Gaussian filtering."""
    k = len(_WINDOW)
    rows = np.lib.stride_tricks.sliding_window_view(x, k, axis=0) @ _WINDOW
    return np.lib.stride_tricks.sliding_window_view(rows, k, axis=1) @ _WINDOW


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of the luma of ``a`` and ``b`` (``b`` resized to ``a``'s size); 1.0 means identical."""
    la, lb = _luma(a), _luma(b)
    if lb.size != la.size:
        lb = lb.resize(la.size, Image.Resampling.BILINEAR)
    factor = max(1, round(min(la.size) / 256))
    if factor > 1:
        small = (max(1, la.width // factor), max(1, la.height // factor))
        la, lb = la.resize(small, Image.Resampling.BOX), lb.resize(small, Image.Resampling.BOX)
    x, y = np.asarray(la, dtype=np.float64), np.asarray(lb, dtype=np.float64)
    if min(x.shape) < len(_WINDOW):
        raise ValueError(f"images too small for SSIM: {x.shape[1]}x{x.shape[0]}")
    mx, my = _filter(x), _filter(y)
    sxx = _filter(x * x) - mx * mx
    syy = _filter(y * y) - my * my
    sxy = _filter(x * y) - mx * my
    num = (2 * mx * my + _C1) * (2 * sxy + _C2)
    den = (mx * mx + my * my + _C1) * (sxx + syy + _C2)
    return float(np.mean(num / den))


def image_array(path: Path) -> np.ndarray:
    """The image at ``path`` as an upright sRGB HxWx3 uint8 array."""
    return np.asarray(load_rgb(Path(path)))


def first_frame_fidelity(video: Path, image: Path) -> float:
    """SSIM of ``video``'s first frame against ``image`` cover-cropped to the clip's frame size."""
    frame = read_frame(Path(video), "first")
    height, width = frame.shape[:2]
    expected = cover_crop(load_rgb(Path(image)), (width, height))
    return ssim(frame, np.asarray(expected))
