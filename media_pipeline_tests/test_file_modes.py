"""Stored files follow the process umask (0644 under the usual 022), as any file a program writes would, while
still being written atomically beside their final name."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from media_pipeline.resources.store import LocalMediaStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_every_way(root: Path) -> list[Path]:
    store = LocalMediaStore(root=str(root))
    source = root.parent / "source.bin"
    source.write_bytes(b"clip")
    store.put_file("clips/a.mp4", source)
    store.put_bytes("records/b.json", b"{}")
    store.put_stream("sources/c.png", [b"x", b"y"], max_bytes=10)
    assert store.create_exclusive("claims/d.json", b"{}")
    return [root / k for k in ("clips/a.mp4", "records/b.json", "sources/c.png", "claims/d.json")]


def test_stored_files_are_0644_under_umask_022(tmp_path):
    previous = os.umask(0o022)
    os.umask(previous)
    files = _write_every_way(tmp_path / "store")
    expected = 0o666 & ~previous
    assert [_mode(f) for f in files] == [expected] * 4
    if previous == 0o022:
        assert expected == 0o644
    assert not [p for p in (tmp_path / "store").rglob(".*") if p.is_file()]  # no temporary left behind


def test_stored_files_follow_a_stricter_umask(tmp_path):
    script = (
        "import os, sys, stat; from pathlib import Path; os.umask(0o027);"
        "from media_pipeline_tests.test_file_modes import _write_every_way;"
        "print([oct(stat.S_IMODE(p.stat().st_mode)) for p in _write_every_way(Path(sys.argv[1]))])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(["0o640"] * 4)
