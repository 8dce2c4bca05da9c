"""``dagster dev`` for browser tests: the webserver and the daemon on a free loopback port, in a throwaway home.

``dagster dev`` runs several processes (webserver, daemon, code servers, and the run workers they launch), so it is
started in its own process group and the whole group is stopped on teardown: SIGTERM, then SIGKILL for whatever
is left. ``DAGSTER_HOME``, ``TMPDIR`` and ``MEDIA_PIPELINE_HOME`` are fresh folders, the generator is the offline
local one, telemetry and the welcome dialog are off, and the server's output goes to a log file beside the test's
artifacts. The fixture returns once the code location has loaded (a load error fails at once, with its message),
so a test can open the UI straight away. Register with
``pytest_plugins = ["media_pipeline_tests.dagster_dev_fixtures"]`` in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .servers import free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS_ENV = "MEDIA_PIPELINE_TEST_ARTIFACTS"
LOCATIONS_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
# no telemetry calls, and no "join the community" dialog over the page a test is about to click
INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


@dataclass(frozen=True)
class DagsterDev:
    """A running ``dagster dev``: its UI's base URL, the pipeline's home (drops and store) and its log."""

    url: str
    pipeline_home: Path
    log: Path

    @property
    def drops(self) -> Path:
        return self.pipeline_home / "drops"


def graphql(url: str, query: str, timeout: float = 30) -> dict:
    """The ``data`` of one GraphQL query against the webserver at ``url``."""
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)["data"]


def _log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.exists() else ""


def _wait_for_locations(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait until the webserver answers and its code locations have loaded; fail at once on a load error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}:\n{_log_tail(log)}")
        try:
            entries = graphql(url, LOCATIONS_QUERY, timeout=5)["workspaceOrError"]["locationEntries"]
        except (OSError, KeyError, TypeError, ValueError):
            entries = []  # not listening yet
        loaded = [entry["locationOrLoadError"] for entry in entries]
        errors = [f"{e['name']}: {s['message']}" for e, s in zip(entries, loaded, strict=True) if s and "message" in s]
        if errors:
            raise RuntimeError("code location failed to load: " + "\n".join(errors))
        if loaded and all(loaded):
            return
        time.sleep(1)
    raise TimeoutError(f"dagster dev at {url} loaded no code location within {timeout}s:\n{_log_tail(log)}")


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group: read from /proc, since a zombie answers signals."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_process_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the whole group started with ``process``, SIGKILL what is left after ``grace`` seconds.

    ``dagster dev`` takes 15-20 s to wind down (its code server waits out a heartbeat); nothing it leaves in a
    throwaway home needs that, so the wait is short.
    """
    pgid = process.pid  # the leader of its own session, so its pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        process.poll()  # reap the leader, so a finished group reads as gone
        if not _group_alive(pgid):
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    process.wait(timeout=10)
    for _ in range(50):
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    raise RuntimeError(f"processes of group {pgid} survived SIGKILL")


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test keeps screenshots and logs: ``$MEDIA_PIPELINE_TEST_ARTIFACTS/<test>`` or its tmp dir."""
    root = os.environ.get(ARTIFACTS_ENV)
    folder = Path(root) / request.node.name if root else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def dagster_dev(tmp_path: Path, artifacts_dir: Path) -> Iterator[DagsterDev]:
    """``dagster dev -w workspace.yaml`` on a free 127.0.0.1 port, local generator, everything in ``tmp_path``."""
    dagster_home, temp, pipeline_home = (tmp_path / name for name in ("dagster_home", "tmp", "media_pipeline"))
    for folder in (dagster_home, temp, pipeline_home / "drops"):
        folder.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text(INSTANCE_YAML, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XAI_", "AWS_", "MEDIA_PIPELINE_"))}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        TMPDIR=str(temp),
        MEDIA_PIPELINE_HOME=str(pipeline_home),
        MEDIA_PIPELINE_GENERATOR="local",
        MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS="2",
        MEDIA_PIPELINE_SETTLE_SECONDS="1",
    )
    url = f"http://127.0.0.1:{(port := free_port())}"
    log = artifacts_dir / "dagster_dev.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for_locations(url, process, log, timeout=180)
        yield DagsterDev(url=url, pipeline_home=pipeline_home, log=log)
    finally:
        stop_process_group(process)
