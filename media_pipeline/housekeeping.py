"""Housekeeping of a local instance after hard kills: run monitoring on, orphaned runs failed, temp folders swept.

A ``kill -9`` gives a run no chance to record its end or remove its scratch files. So the instance the CLI and
``make`` create gets a ``dagster.yaml`` with run monitoring on (the daemon of ``make dev`` then fails runs that
never start or outlive their timeout); every CLI run is tagged with its host and process id, and the next CLI
start marks the runs whose process is gone as failed (runs the daemon launched are found by the run worker's
pid that Dagster records, on a local instance); and every process that executes runs keeps its temporary files
in one folder of its own (the records IO manager enters it for each run), removed when its last run ends, with
the folders of dead processes removed by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.runs import SqliteRunStorage

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


@contextlib.contextmanager
def home_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the instance folder ``path``: two commands that create a new instance at once
    would each write its sqlite schema version, and the instance would then refuse to open."""
    with (path / ".media_pipeline.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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


def _worker_pid(instance: DagsterInstance, run: DagsterRun) -> int:
    """The pid of the process running ``run`` on this host, or 0 when unknown (or on another host).

    Our tags say it for runs of the command; for runs the daemon launched, Dagster's "Started process for run"
    event does, and only a local (sqlite) instance guarantees that process ran on this host.
    """
    if HOST_TAG in run.tags:
        return int(run.tags.get(PID_TAG) or 0) if run.tags[HOST_TAG] == socket.gethostname() else 0
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return 0
    for record in instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ENGINE_EVENT).records:
        event = record.event_log_entry.dagster_event
        if event and event.message and event.message.startswith("Started process for run"):
            pid = event.engine_event_data.metadata.get("pid")
            return int(pid.value) if pid is not None else 0
    return 0


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark as failed the started runs whose process on this host is gone; return their run ids."""
    running = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    failed = []
    for run in running:
        pid = _worker_pid(instance, run)
        if pid and pid != os.getpid() and not _alive(pid):
            instance.report_run_failed(run, f"the process running it (pid {pid}) is gone: it was killed or crashed")
            failed.append(run.run_id)
    return failed


_temp_lock = threading.Lock()
_temp_users = 0
_temp_saved: tuple[str | None, str, str | None] = (None, "", None)  # tempfile.tempdir, the temp folder, TMPDIR


def enter_process_temp_dir() -> Path:
    """Point ``tempfile`` and child processes (ffmpeg) at this process's own folder; one call per run using it.

    The first call creates it, after removing the folders of dead processes of this host (a ``kill -9``).
    """
    global _temp_users, _temp_saved
    with _temp_lock:
        if _temp_users == 0:
            _temp_saved = (tempfile.tempdir, tempfile.gettempdir(), os.environ.get("TMPDIR"))
        base = Path(_temp_saved[1]) / "media_pipeline-runs"
        mine = base / f"{socket.gethostname()}-{os.getpid()}"
        if _temp_users == 0:
            base.mkdir(parents=True, exist_ok=True)
            for old in base.glob(f"{socket.gethostname()}-*"):
                pid = old.name.rpartition("-")[2]
                if pid.isdigit() and not _alive(int(pid)):
                    shutil.rmtree(old, ignore_errors=True)
            mine.mkdir(exist_ok=True)
            tempfile.tempdir = os.environ["TMPDIR"] = str(mine)
        _temp_users += 1
        return mine


def leave_process_temp_dir() -> None:
    """End one use of the process's folder; the last one restores the temp location and removes the folder."""
    global _temp_users
    with _temp_lock:
        if _temp_users == 0:
            return
        _temp_users -= 1
        if _temp_users > 0:
            return
        mine = Path(tempfile.gettempdir())
        tempfile.tempdir = _temp_saved[0]
        if _temp_saved[2] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = _temp_saved[2]
        shutil.rmtree(mine, ignore_errors=True)


@contextlib.contextmanager
def process_temp_dir() -> Iterator[Path]:
    """``enter_process_temp_dir`` for the length of a block."""
    try:
        yield enter_process_temp_dir()
    finally:
        leave_process_temp_dir()
