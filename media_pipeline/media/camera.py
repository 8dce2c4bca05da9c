"""Camera moves over a still: which move a prompt names, and where the view is at each moment of it.

The local animator (``animate``) draws each frame as a crop of one canvas; this module decides that canvas and
the crop box along the move (zoom in and out, pans, tilts, a slow drift), eased so moves start and settle gently.
Every move starts on exactly the source's own framing, so the first frame is the source image. Kept apart from
``animate``, which draws and encodes the frames, so the geometry can be read and changed on its own. Pillow only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from PIL import Image, ImageFilter

from media_pipeline.media.images import cover_crop

Box = tuple[float, float, float, float]

CAMERA_MOVES = ("zoom_in", "zoom_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "drift")
_MOVE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (move, re.compile(pattern, re.IGNORECASE))
    for move, pattern in (
        ("zoom_in", r"\b(?:push(?:es|ing)?|zoom(?:s|ing)?|dolly(?:ing)?)[\s-]+in\b"),
        ("zoom_out", r"\b(?:pull(?:s|ing)?[\s-]+back|(?:zoom(?:s|ing)?|dolly(?:ing)?)[\s-]+out)\b"),
        ("pan_left", r"\bpan(?:s|ning)?[\s-]+left\b"),
        ("pan_right", r"\bpan(?:s|ning)?[\s-]+right\b"),
        ("tilt_up", r"\btilt(?:s|ing)?[\s-]+up\b"),
        ("tilt_down", r"\btilt(?:s|ing)?[\s-]+down\b"),
    )
)

ZOOM = 1.15  # zoom in / out: final scale of the view
PAN_ZOOM = 1.25  # pans and tilts zoom in while moving so the view never leaves the picture
DRIFT_ZOOM = 1.06


def camera_move(prompt: str) -> str:
    """The camera move named earliest in ``prompt`` (one of ``CAMERA_MOVES``); ``"drift"`` if none is named.

    Recognised (case-insensitive, space or hyphen): push in, zoom in, dolly in -> ``zoom_in``; pull back,
    zoom out, dolly out -> ``zoom_out``; pan left/right; tilt up/down.
    """
    found = [(m.start(), move) for move, pattern in _MOVE_PATTERNS if (m := pattern.search(prompt or ""))]
    return min(found)[1] if found else "drift"


def _ease(p: float) -> float:
    """Ease-in-out on [0, 1] so moves start and settle gently."""
    return 0.5 - 0.5 * math.cos(math.pi * min(max(p, 0.0), 1.0))


def camera_view(move: str, frame: Box) -> Callable[[float], Box]:
    """For ``move``, a function from progress in [0, 1] to the crop box (x, y, w, h) in canvas pixels.

    ``frame`` is the box of the source's framing on the canvas; every move returns exactly it at progress 0.
    """
    fx, fy, fw, fh = frame

    def box(zoom: float, ax: float, ay: float) -> Box:
        # A view ``zoom`` times closer, its free space split ``ax``:``1 - ax`` left:right (``ay`` for top).
        w, h = fw / zoom, fh / zoom
        return fx + (fw - w) * ax, fy + (fh - h) * ay, w, h

    def pan_zoom(p: float) -> float:
        return 1 + (PAN_ZOOM - 1) * _ease(min(1.0, p / 0.4))

    def pan(ax: float, ay: float) -> Callable[[float], Box]:
        # Zoom settles early and the view keeps sliding toward one edge: reads as a pan, not a zoom.
        return lambda p: box(pan_zoom(p), 0.5 + (ax - 0.5) * _ease(p), 0.5 + (ay - 0.5) * _ease(p))

    views: dict[str, Callable[[float], Box]] = {
        "zoom_in": lambda p: box(1 + (ZOOM - 1) * _ease(p), 0.5, 0.5),
        "zoom_out": lambda p: box(1 / (1 + (ZOOM - 1) * _ease(p)), 0.5, 0.5),
        "pan_left": pan(0.0, 0.5),
        "pan_right": pan(1.0, 0.5),
        "tilt_up": pan(0.5, 0.0),
        "tilt_down": pan(0.5, 1.0),
        "drift": lambda p: box(1 + (DRIFT_ZOOM - 1) * _ease(p), 0.5 + 0.2 * _ease(p), 0.5 - 0.2 * _ease(p)),
    }
    return views[move]


def camera_canvas(image: Image.Image, size: tuple[int, int], move: str) -> tuple[Image.Image, Box]:
    """The picture the moving view samples, and the box on it that is the first frame.

    Closer moves get a canvas up to their zoom factor larger than the frame (when the source has the pixels)
    so zoomed frames stay sharp. A pull-back needs picture outside the framing: the source's own cropped-off
    margins where it has them, else a blurred stretch of the image, so the first frame is still the source.
    """
    width, height = size
    if move == "zoom_out":
        mx, my = math.ceil(width * (ZOOM - 1) / 2), math.ceil(height * (ZOOM - 1) / 2)
        cw, ch = width + 2 * mx, height + 2 * my
        canvas = cover_crop(image, (cw // 8 or 1, ch // 8 or 1)).filter(ImageFilter.GaussianBlur(4))
        canvas = canvas.resize((cw, ch), Image.Resampling.BILINEAR)
        # Map the source onto the canvas at the scale where it covers the frame, and paste what lands inside.
        k = max(width / image.width, height / image.height)
        left = max(0.0, image.width / 2 - cw / (2 * k))
        top = max(0.0, image.height / 2 - ch / (2 * k))
        right, bottom = image.width - left, image.height - top
        dx, dy = round(cw / 2 + (left - image.width / 2) * k), round(ch / 2 + (top - image.height / 2) * k)
        part = image.resize((cw - 2 * dx, ch - 2 * dy), Image.Resampling.LANCZOS, box=(left, top, right, bottom))
        inner = cover_crop(image, size)
        canvas.paste(part, (dx, dy))
        canvas.paste(inner, (mx, my))
        return canvas, (float(mx), float(my), float(width), float(height))
    reach = {"zoom_in": ZOOM, "drift": DRIFT_ZOOM}.get(move, PAN_ZOOM)
    native = min(image.width / width, image.height / height)  # source pixels per frame pixel when covering
    scale = min(reach, max(1.0, native))
    cw, ch = round(width * scale), round(height * scale)
    return cover_crop(image, (cw, ch)), (0.0, 0.0, float(cw), float(ch))
