"""What a drop zone lists: one ``DropFile`` per file (enough to notice a change without reading it), and the
fingerprint of a campaign's listing that the sensor and ``source_images`` share. Kept apart from ``drops.py`` so the
catalog view (``catalog_drops.py``) and the ports build on the same types without importing each other.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class DropFile(NamedTuple):
    """One file of a drop as listed: enough to notice a change without reading it."""

    name: str
    size: int
    mtime: float
    etag: str = ""


def drop_fingerprint(files: list[DropFile]) -> str:
    """A short hash of a drop's listing: any added, removed or rewritten file changes it. The sensor compares it
    with the one ``source_images`` recorded for the campaign's last complete run."""
    text = "\n".join(f"{f.name}\t{f.size}\t{f.mtime:.6f}\t{f.etag}" for f in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
