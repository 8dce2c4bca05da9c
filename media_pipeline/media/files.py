"""Files written whole or not at all, and content hashes for the per-clip cache.

``atomic_path`` hands out a temporary name beside the destination and renames it into place only when the
block succeeds, so a crash or a failed encode never leaves a half-written file under the real name (and a cache
entry is either complete or absent).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(dest: Path) -> Iterator[Path]:
    """A temporary path beside ``dest`` (same suffix, so tools pick the same format), renamed to ``dest`` on
    success and removed on failure."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{dest.suffix}")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def text_digest(*parts: object) -> str:
    """A short stable key for a list of values (a cache key's recipe), as hex."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]
