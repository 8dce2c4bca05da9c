"""Metadata helpers shared by the assets, so every stage shows its per-shot table the same way in the UI."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dagster import MetadataValue


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


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, streamed (a deliverable or soundtrack need not fit in memory)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
