"""The production stack on one machine, for tests and the backfill benchmark: a code server and ``dagster-daemon``
as separate processes against an instance made from ``deploy/dagster.yaml``.

``write_instance_home`` copies the deploy file into a fresh ``DAGSTER_HOME`` with optional overrides (deep-merged,
e.g. shorter polling for a test) and a ``workspace.yaml`` that points at the code server's gRPC port, exactly the
shape of ``deploy/docker-compose.yaml``. ``start_stack`` starts ``dagster code-server start`` and, once it answers,
``dagster-daemon run``, each in its own process group; ``DagsterStack.stop`` ends both groups (SIGTERM, then
SIGKILL), which also ends the run workers the code server launched. ``drop_campaigns`` and ``pipeline_env`` are
the S3 drops and the environment the deployment's processes get. The event-log helpers read what the queue and the
pools did from the instance itself: when each run and each step ran.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterEventType, DagsterInstance
from dagster._grpc.client import DagsterGrpcClient
from dagster._serdes import deserialize_value
from dagster._utils.error import SerializableErrorInfo

from .builders import sample_image
from .xai_builders import TEST_API_KEY

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent  # dagster, dagster-daemon: installed beside this interpreter
LOCATION = "media_pipeline"
MANIFEST = 'resolution: 480p\nduration: 1\naspect_ratio: "16:9"\ndeliverable: {transition: cut}\n'


def drop_campaigns(client, bucket: str, campaigns: list[str], shots: int) -> None:
    """Drop each campaign into ``s3://bucket/drops/``: ``shots`` one-second 480p shots of its own images."""
    for index, campaign in enumerate(campaigns):
        client.put_object(Bucket=bucket, Key=f"drops/{campaign}/campaign.yaml", Body=MANIFEST.encode())
        for shot in range(shots):
            image = io.BytesIO()
            sample_image(1000 + 10 * index + shot).save(image, "PNG")  # distinct pixels: no clip is shared
            client.put_object(Bucket=bucket, Key=f"drops/{campaign}/shot_{shot + 1}.png", Body=image.getvalue())


def pipeline_env(
    tmp: Path, aws_env: Mapping[str, str], bucket: str, xai_host: str, pg_env: Mapping[str, str], *, shots: int
) -> dict[str, str]:
    """What the deployment's processes are given: the instance's database, an S3 store and drop zone in
    ``bucket``, the xAI endpoint (an emulator here) and a fresh temp folder; nothing else from this process."""
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH")
    return {
        **{name: os.environ[name] for name in keep if name in os.environ},
        **aws_env,
        **pg_env,
        "TMPDIR": str(tmp / "tmp"),
        "MEDIA_PIPELINE_HOME": str(tmp / "pipeline_home"),
        "MEDIA_PIPELINE_STORE": f"s3://{bucket}/store",
        "MEDIA_PIPELINE_DROPS": f"s3://{bucket}/drops",
        "MEDIA_PIPELINE_GENERATOR": "xai",
        "MEDIA_PIPELINE_MAX_CONCURRENT_GENERATIONS": str(shots),
        "MEDIA_PIPELINE_XAI_RPS": "1",
        "MEDIA_PIPELINE_SETTLE_SECONDS": "1",
        "XAI_API_KEY": TEST_API_KEY,
        "XAI_API_HOST": xai_host,
        "XAI_USE_INSECURE_CHANNEL": "1",
    }


def _merged(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merged(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


def write_instance_home(home: Path, port: int, overrides: Mapping[str, Any] | None = None) -> Path:
    """``home/dagster.yaml`` = deploy/dagster.yaml + ``overrides``; ``home/workspace.yaml`` -> 127.0.0.1:``port``."""
    home.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    (home / "dagster.yaml").write_text(yaml.safe_dump(_merged(config, overrides or {})), encoding="utf-8")
    workspace = {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": LOCATION}}]}
    (home / "workspace.yaml").write_text(yaml.safe_dump(workspace), encoding="utf-8")
    return home


@dataclass
class DagsterStack:
    """A running code server and daemon; ``env`` is the environment both were given."""

    home: Path
    port: int
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str, skip: tuple[str, ...] = ()) -> str:
        """The end of what the ``code_server`` or the ``daemon`` printed, without the lines containing ``skip``."""
        path = self.home / f"{name}.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(line for line in lines if not any(s in line for s in skip))[-6000:]

    def dagster(self, *args: str, timeout: float = 120) -> str:
        """Run a ``dagster`` CLI command against this stack's instance and workspace; its output."""
        result = subprocess.run(
            [str(BIN / "dagster"), *args, "-w", str(self.home / "workspace.yaml")],
            env=self.env, capture_output=True, text=True, timeout=timeout, cwd=self.home,
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"dagster {' '.join(args)} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
        return result.stdout

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # run workers left behind in the group
            process.wait(timeout=10)


def _spawn(stack: DagsterStack, name: str, args: list[str]) -> None:
    with open(stack.home / f"{name}.log", "wb") as log:
        stack.processes[name] = subprocess.Popen(
            args, env=stack.env, cwd=stack.home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip


def _wait_for_code_server(stack: DagsterStack, timeout: float) -> None:
    client = DagsterGrpcClient(port=stack.port, host="127.0.0.1")
    deadline, error = time.monotonic() + timeout, None
    while time.monotonic() < deadline and stack.processes["code_server"].poll() is None:
        try:
            reply = deserialize_value(client.list_repositories())
        except Exception:  # noqa: BLE001 - not listening yet
            time.sleep(0.5)
            continue
        if not isinstance(reply, SerializableErrorInfo):
            return
        error = reply.to_string()
        break
    stack.stop()
    raise RuntimeError(f"the code server did not load the definitions ({error}); log:\n{stack.log('code_server')}")


def start_stack(home: Path, port: int, env: Mapping[str, str], *, timeout: float = 120) -> DagsterStack:
    """Start the code server (the Dockerfile's command) and the daemon against ``home``'s instance."""
    stack = DagsterStack(home=home, port=port, env={**env, "DAGSTER_HOME": str(home)})
    _spawn(stack, "code_server", [
        str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port), "-m", LOCATION,
    ])  # fmt: skip
    _wait_for_code_server(stack, timeout)
    _spawn(stack, "daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")])
    return stack


def event_times(instance: DagsterInstance, event_type: DagsterEventType, step_key: str | None = None) -> dict:
    """``{run_id: [timestamps]}`` of one event type (for one step when given), from the instance's event log."""
    out: dict[str, list[float]] = {}
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=event_type):
            if step_key is None or entry.step_key == step_key:
                out.setdefault(entry.run_id, []).append(entry.timestamp)
    return out


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at t closes before a start at t opens)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, delta in edges:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def generation_overlap(instance: DagsterInstance) -> int:
    """The most ``generated_clips`` steps running at one instant, from the event log (steps that ended)."""
    starts = event_times(instance, DagsterEventType.STEP_START, "generated_clips")
    ends = {**event_times(instance, DagsterEventType.STEP_FAILURE, "generated_clips"),
            **event_times(instance, DagsterEventType.STEP_SUCCESS, "generated_clips")}  # fmt: skip
    return max_overlap([(min(starts[run]), max(ends[run])) for run in starts if run in ends])


def rss_bytes(pid: int, *, descendants: bool = True) -> int:
    """Resident memory of a process, with all its descendants by default (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, []) if descendants else []
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((Path(f"/proc/{current}/statm").read_text().split())[1]) * os.sysconf("SC_PAGE_SIZE")
    return total
