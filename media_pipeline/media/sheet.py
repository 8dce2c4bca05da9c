"""Contact sheet: every shot's first and last frames side by side, labelled, on one PNG for quick review.

The first frame shows how faithfully a shot starts from its source image and the last how it hands over to the
next shot, which is what a reviewer checks before anyone watches the cut.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from media_pipeline.media.cores import cores
from media_pipeline.media.errors import MediaError
from media_pipeline.media.files import atomic_path
from media_pipeline.media.frames import read_frames

GAP = 8
LABEL_HEIGHT = 22
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)


def _cell(name: str, clip: Path, end: float, width: int) -> tuple[str, Image.Image, Image.Image]:
    """One shot's label and first and last frames as thumbnails."""
    try:
        # "at the end" seeks to the last keyframe; "last" would decode the whole clip
        first, last = (Image.fromarray(pixels) for pixels in read_frames(Path(clip), ["first", end], width=width))
    except Exception as exc:  # MediaError, a decoder error from PyAV, a missing file
        raise MediaError(f"contact sheet: shot {name!r}: cannot read frames of {clip}: {exc}") from exc
    return name, _fit(first, width), _fit(last, width)


def _fit(frame: Image.Image, width: int) -> Image.Image:
    """A thumbnail ``width`` wide: frames narrower than that (read unscaled) are enlarged."""
    if frame.width == width:
        return frame
    return frame.resize((width, max(1, round(frame.height * width / frame.width))), Image.Resampling.LANCZOS)


def _columns(count: int) -> int:
    """Shots per row: a roughly square sheet (each shot is two frames wide)."""
    return max(1, min(count, round(math.sqrt(count / 2)) or 1))


def contact_sheet(shots: list[tuple[str, Path, float]], dest_png: Path, *, thumb_width: int = 320) -> Path:
    """Write a grid of ``(shot name, clip, clip seconds)``, first and last frame each, to ``dest_png``."""
    if not shots:
        raise MediaError(f"contact sheet {dest_png}: no shots given")
    with ThreadPoolExecutor(max_workers=max(1, min(len(shots), cores()))) as pool:  # PyAV frees the GIL
        cells = list(pool.map(lambda shot: _cell(*shot, thumb_width), shots))
    columns = _columns(len(cells))
    rows = math.ceil(len(cells) / columns)
    cell_w = 2 * thumb_width + GAP
    cell_h = LABEL_HEIGHT + max(max(a.height, b.height) for _, a, b in cells)
    sheet = Image.new("RGB", (columns * cell_w + (columns + 1) * GAP, rows * cell_h + (rows + 1) * GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, (name, first, last) in enumerate(cells):
        x = GAP + (index % columns) * (cell_w + GAP)
        y = GAP + (index // columns) * (cell_h + GAP)
        draw.text((x + 2, y + 4), f"{index + 1}. {name}   first | last", fill=TEXT, font=font)
        sheet.paste(first, (x, y + LABEL_HEIGHT))
        sheet.paste(last, (x + thumb_width + GAP, y + LABEL_HEIGHT))
    with atomic_path(Path(dest_png)) as tmp:
        sheet.save(tmp, format="PNG", compress_level=1)  # a review image: fast to write beats small
    return Path(dest_png)
