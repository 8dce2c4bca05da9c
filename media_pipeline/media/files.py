"""Files written whole or not at all, and content hashes for the per-clip cache.

``atomic_path`` hands out a temporary name beside the destination and renames it into place only when the
block succeeds, so a crash or a failed encode never leaves a half-written file under the real name (and a cache
entry is either complete or absent). The folder store (``resources.store``) writes the same way through
``part_file`` (a ``.part`` file with the mode ``open()`` would give) and ``link_new`` (a name taken only if free),
and switches a set of names at once with ``swap_symlink``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20


def _file_mode() -> int:
    """The mode ``open()`` would give a new file under this process's umask (0644 under the usual 022)."""
    umask = os.umask(0o022)  # read it the only portable way, once, while the module loads
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()
"""Stored files follow the umask like any other file, although ``mkstemp`` creates them owner-only."""


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


def part_file(dest: Path) -> Path:
    """A new empty ``.<name>.<random>.part`` file beside ``dest`` (its folder made if need be), with ``FILE_MODE``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    return Path(tmp)


def link_new(tmp: Path, dest: Path) -> bool:
    """Give the file ``tmp`` the name ``dest`` too, only if no file has it: True when linked, False when taken."""
    try:
        os.link(tmp, dest)  # fails if the name exists; the object appears whole
    except FileExistsError:
        return False
    return True


def swap_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` in one rename: a reader sees the old target or the new one, never neither."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(target, tmp)
    os.replace(tmp, link)
