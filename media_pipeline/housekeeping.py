"""Housekeeping of a local instance after hard kills: run monitoring on, orphaned runs failed, temp folders swept.

A ``kill -9`` gives a run no chance to record its end or remove its scratch files. So the instance the CLI and
``make`` create gets a ``dagster.yaml`` with run monitoring on (the daemon of ``make dev`` then fails runs that
never start or outlive their timeout); every CLI run is tagged with its host and process id, and the next CLI
start marks the runs whose process is gone as failed; and each CLI run keeps its temporary files in one folder
per process, removed at its end, with the folders of dead processes removed by the next run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

PID_TAG = "media_pipeline/pid"
HOST_TAG = "media_pipeline/host"
DAGSTER_YAML = """\
# Written by media-pipeline for a new DAGSTER_HOME (edit freely; it is never overwritten).
# Run monitoring lets the daemon (`make dev`) fail runs that never start or hang in cancellation; runs of the
# media-pipeline command whose process was killed are marked failed by the next command.
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 30
telemetry:
  enabled: false
"""


def ensure_dagster_home(path: Path) -> Path:
    """Create ``path`` with the pipeline's ``dagster.yaml`` unless one is there; return ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError), (path / "dagster.yaml").open("x", encoding="utf-8") as config:
        config.write(DAGSTER_YAML)
    return path


def run_tags() -> dict[str, str]:
    """Tags that let a later process tell whether the run's process still lives."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark as failed the started runs of this host whose process is gone; return their run ids."""
    running = instance.get_runs(
        RunsFilter(
            statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING], tags={HOST_TAG: socket.gethostname()}
        )
    )
    failed = []
    for run in running:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and pid != os.getpid() and not _alive(pid):
            instance.report_run_failed(run, f"the process running it (pid {pid}) is gone: it was killed or crashed")
            failed.append(run.run_id)
    return failed


@contextlib.contextmanager
def process_temp_dir() -> Iterator[Path]:
    """Point ``tempfile`` and child processes (ffmpeg) at a folder of this process, removed on the way out.

    Folders left by dead processes of this host (a ``kill -9``) are removed first.
    """
    base = Path(tempfile.gettempdir()) / "media_pipeline-runs"
    base.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for old in base.glob(f"{host}-*"):
        pid = old.name.rpartition("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    mine = base / f"{host}-{os.getpid()}"
    mine.mkdir(exist_ok=True)
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = str(mine), str(mine)
    try:
        yield mine
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(mine, ignore_errors=True)
