"""How many CPUs this process may really use: its CPU affinity, capped by its cgroup's CPU quota.

``os.cpu_count()`` is the machine's count. In a container or a Kubernetes pod limited to 4 CPUs on a 64-CPU node it
says 64, and 64 encodes started "in parallel, up to the cores" would share 4 CPUs and one pod's memory (the
deliverable step's pod has 4 GiB: ``deploy/k8s_location.py``). Every such pool in the package asks ``cores()``:
the CPUs in the process's affinity (``taskset``, a cpuset), at most the quota of cgroup v2's ``cpu.max`` or
cgroup v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, rounded up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cpu_quota(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> int | None:
    """CPUs the cgroup's quota allows, rounded up; None when there is no quota (or no cgroup to read)."""
    try:
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us, period_us = (int(path.read_text()) for path in v1)
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def cores() -> int:
    """CPUs this process may use: its affinity, capped by its cgroup's CPU quota; at least 1."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cpu_quota()
    return max(1, min(affinity, quota) if quota else affinity)
