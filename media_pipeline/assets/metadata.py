"""Metadata helpers shared by the assets, so every stage shows its per-shot table the same way in the UI, and the
one log line of a finished shot that the CLI's progress line reads back."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dagster import MetadataValue
from PIL import Image


def shot_table(rows: Sequence[dict[str, Any]]) -> MetadataValue:
    """A Markdown table of ``rows`` (all with the same keys), shown as a table in the Dagster UI."""
    if not rows:
        return MetadataValue.md("_no rows_")
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = (str(row[c]).replace("|", "\\|").replace("\n", " ") for c in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return MetadataValue.md("\n".join(lines))


def digest(parts: Iterable[str]) -> str:
    """A short stable hash of ``parts``, used as an asset's ``DataVersion`` so staleness follows content."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


SHOT_DONE = re.compile(
    r"^campaign '(?P<campaign>[^']+)', shot '(?P<shot>[^']+)': (?P<status>\w+), \$(?P<cost>[0-9.]+)$"
)
"""The line each shot's outcome logs (``shot_done``); the CLI's progress line counts them in the run's events."""


def shot_done(where: str, status: str, cost_usd: float) -> str:
    """The log line of one finished shot: ``campaign 'c', shot 's': generated, $0.1000``."""
    return f"{where}: {status}, ${cost_usd:.4f}"


INLINE_LIMIT = 1000
"""Dagster 1.13's UI shows a Markdown metadata value in place only when it is shorter than this; longer ones open
behind a [Show Markdown] click."""


def inline_thumbnail(path: Path, alt: str) -> MetadataValue:
    """A Markdown image the UI shows in place: a WebP ``data:`` URL under ``INLINE_LIMIT`` characters, the widest
    that fits from 192 px down (a picture too detailed for even 64 px says so instead)."""
    with Image.open(path) as image:
        picture = image.convert("RGB")
    for width, quality in ((192, 40), (160, 35), (128, 30), (96, 25), (64, 20)):
        thumbnail = picture.copy()
        thumbnail.thumbnail((width, width * 4))
        encoded = io.BytesIO()
        thumbnail.save(encoded, format="WEBP", quality=quality)
        text = f"![{alt}](data:image/webp;base64,{base64.b64encode(encoded.getvalue()).decode('ascii')})"
        if len(text) < INLINE_LIMIT:
            return MetadataValue.md(text)
    return MetadataValue.md(f"_{alt}: too detailed for an inline thumbnail; open the preview_")
