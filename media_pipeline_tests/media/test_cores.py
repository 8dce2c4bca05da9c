"""``cores()``: the CPUs a process may really use, so no pool starts more encodes than its container allows."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from media_pipeline.media import cores


def _cgroup(tmp_path: Path, v2: str | None = None, v1: tuple[str, str] | None = None) -> tuple[Path, tuple[Path, Path]]:
    """cgroup files as the kernel writes them (the paths given are absent when ``None``)."""
    cpu_max = tmp_path / "cpu.max"
    quota, period = tmp_path / "cpu.cfs_quota_us", tmp_path / "cpu.cfs_period_us"
    if v2 is not None:
        cpu_max.write_text(v2 + "\n")
    if v1 is not None:
        quota.write_text(v1[0] + "\n")
        period.write_text(v1[1] + "\n")
    return cpu_max, (quota, period)


@pytest.mark.parametrize(
    ("v2", "v1", "expected"),
    [
        ("400000 100000", None, 4),  # a pod limited to 4 CPUs (cgroup v2)
        ("150000 100000", None, 2),  # 1.5 CPUs: rounded up
        ("50000 100000", None, 1),
        ("max 100000", None, None),  # no limit
        (None, ("200000", "100000"), 2),  # cgroup v1
        (None, ("-1", "100000"), None),  # v1 without a quota (this machine)
        (None, None, None),  # no cgroup files at all
        ("garbage", ("300000", "100000"), 3),  # an unreadable v2 file falls back to v1
    ],
)
def test_the_cgroup_quota_is_read_in_both_formats(tmp_path: Path, v2, v1, expected) -> None:
    cpu_max, v1_paths = _cgroup(tmp_path, v2, v1)
    assert cores.cpu_quota(cpu_max, v1_paths) == expected


def test_cores_is_the_affinity_capped_by_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    affinity = len(os.sched_getaffinity(0))
    monkeypatch.setattr(cores, "cpu_quota", lambda: None)
    assert cores.cores() == affinity
    monkeypatch.setattr(cores, "cpu_quota", lambda: 1)
    assert cores.cores() == 1
    monkeypatch.setattr(cores, "cpu_quota", lambda: affinity + 8)  # a quota above the CPUs it may run on
    assert cores.cores() == affinity


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is not installed")
def test_a_process_pinned_to_one_cpu_gets_one(tmp_path: Path) -> None:
    """A real affinity, set from outside the process the way a cpuset or ``taskset`` does."""
    code = "from media_pipeline.media.cores import cores; print(cores())"
    done = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "1"
