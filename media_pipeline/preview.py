"""Inline previews: a picture as a Markdown image small enough for the Dagster UI to show in place.

Kept apart from Dagster so a take's preview is made once, when it is scored, and stored beside its clip
(``takes.py``); ``assets/metadata.inline_thumbnail`` wraps it as a metadata value.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

INLINE_LIMIT = 1000
"""Dagster 1.13's UI shows a Markdown metadata value in place only when it is shorter than this; longer ones open
behind a [Show Markdown] click."""


def thumbnail_markdown(path: Path, alt: str) -> str:
    """A Markdown image of ``path``: a WebP ``data:`` URL under ``INLINE_LIMIT`` characters, the widest that fits
    from 192 px down (a picture too detailed for even 64 px says so instead)."""
    with Image.open(path) as image:
        picture = image.convert("RGB")
    for width, quality in ((192, 40), (160, 35), (128, 30), (96, 25), (64, 20)):
        thumbnail = picture.copy()
        thumbnail.thumbnail((width, width * 4))
        encoded = io.BytesIO()
        thumbnail.save(encoded, format="WEBP", quality=quality)
        text = f"![{alt}](data:image/webp;base64,{base64.b64encode(encoded.getvalue()).decode('ascii')})"
        if len(text) < INLINE_LIMIT:
            return text
    return f"_{alt}: too detailed for an inline thumbnail; open the preview_"
