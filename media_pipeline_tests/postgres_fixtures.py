"""A real PostgreSQL server for tests and benchmarks: ``initdb`` and ``pg_ctl`` from the machine.

The binaries are looked up on PATH, in /usr/local/bin and in Debian's /usr/lib/postgresql/<version>/bin (newest
first); tests that need them are skipped, with that reason, only when none is found. The server listens on a free
port on 127.0.0.1 only (no Unix socket), keeps its data in a fresh folder, requires a password (so the instance's
``env:`` credentials are exercised) and trades durability for speed (``fsync=off``). PostgreSQL refuses to run as
root, so under root (CI containers) the cluster belongs to the ``postgres`` user when there is one, else ``nobody``,
and the binaries run as that user. ``start_postgres``/``PostgresServer.stop`` are plain functions for the benchmark;
the pytest fixtures are ``postgres_server`` (session) and ``postgres_env`` (a fresh database per test, as the
``DAGSTER_PG_*`` variables the deploy/ instance files read). Register with
``pytest_plugins = ["media_pipeline_tests.postgres_fixtures"]`` in ``conftest.py``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

from .servers import free_port

HOST = "127.0.0.1"
SUPERUSER = "postgres"
_TOOLS = ("initdb", "pg_ctl")
# unsafe for data, fine for a throwaway test cluster: no fsync, no full-page writes
_SPEED = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def postgres_bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: PATH, /usr/local/bin, then Debian's newest version."""
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    candidates.append(Path("/usr/local/bin"))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.split(".")[0].isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: float(p.name), reverse=True)]
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in _TOOLS):
            return folder
    return None


def _server_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL")


def _traversable_tmp() -> str:
    """A temp root every user can reach (pytest's own temp folders are root-only under root)."""
    for root in (tempfile.gettempdir(), "/tmp"):
        path, ok = Path(root).resolve(), True
        for part in (path, *path.parents):
            ok = ok and bool(part.stat().st_mode & 0o001)
        if ok:
            return str(path)
    raise RuntimeError("no world-traversable temp folder for the PostgreSQL data directory")


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster; ``stop()`` shuts it down and removes its folder."""

    bin_dir: Path
    workdir: Path
    port: int
    password: str
    user: pwd.struct_passwd | None

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        user = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []} if self.user else {}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
            cwd=self.workdir, env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}, **user,
        )  # fmt: skip

    def _execute(self, sql: str, database: str = "postgres") -> tuple | None:
        """Run one statement outside a transaction (CREATE DATABASE needs that); its first row, if any."""
        connection = psycopg2.connect(
            host=HOST, port=self.port, user=SUPERUSER, password=self.password, dbname=database
        )
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone() if cursor.description else None
        finally:
            connection.close()

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database (a fresh unique name by default); returns its name."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        self._execute(f'CREATE DATABASE "{name}"')
        return name

    def database_bytes(self, name: str) -> int:
        """``pg_database_size`` of one database."""
        return int(self._execute("SELECT pg_database_size(current_database())", name)[0])

    def env(self, database: str) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` variables deploy/dagster.yaml reads, pointing at ``database``."""
        return {
            "DAGSTER_PG_HOST": HOST,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": SUPERUSER,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    def stop(self) -> None:
        """Fast shutdown (immediate if that hangs), then remove the data folder."""
        if (self.data_dir / "postmaster.pid").exists():
            if self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "20", "stop").returncode:
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "20", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """``initdb`` a fresh cluster with a random superuser password and start it on a free loopback port."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no initdb/pg_ctl on PATH, in /usr/local/bin or /usr/lib/postgresql/*/bin")
    user = _server_user()
    workdir = Path(tempfile.mkdtemp(prefix="pg-", dir=_traversable_tmp()))
    server = PostgresServer(bin_dir, workdir, free_port(), secrets.token_hex(16), user)
    (workdir / "pwfile").write_text(server.password, encoding="utf-8")
    if user:
        os.chown(workdir, user.pw_uid, user.pw_gid)
        os.chown(workdir / "pwfile", user.pw_uid, user.pw_gid)
    steps = [
        ("initdb", "-D", str(server.data_dir), "-U", SUPERUSER, "--pwfile", str(workdir / "pwfile"),
         "--auth", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"),
        ("pg_ctl", "-D", str(server.data_dir), "-l", str(server.log_path), "-w", "-t", "60",
         "-o", f"-p {server.port} -h {HOST} -k '' {_SPEED}", "start"),
    ]  # fmt: skip
    for step in steps:
        result = server._run(*step)
        if result.returncode:
            log = server.log_path.read_text(errors="replace")[-2000:] if server.log_path.exists() else ""
            server.stop()
            raise RuntimeError(f"{step[0]} failed ({result.returncode}): {result.stderr[-2000:]}\n{log}")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session (each test takes its own database)."""
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (no initdb/pg_ctl; .ci/run installs Debian's `postgresql`)")
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_env(postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A fresh database, exported as the ``DAGSTER_PG_*`` variables for this test; returns them."""
    env = postgres_server.env(postgres_server.create_database())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
