"""``kill -9`` of ``media-pipeline run`` during assembly and during publish, on a folder store and on S3.

After the kill the previous set is current and whole (or none is visible), whatever files the killed run left
are named by nothing, and a re-run publishes a whole set, removes the leftovers and pays for nothing again.
The kill during an S3 publish is exact: a TCP proxy holds the new set's second PUT, then the process is
killed. On a folder store the test watches the version folder with inotify and kills the moment it appears.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media_pipeline.resources.publish import current_deliverable
from media_pipeline.resources.s3.store import S3MediaStore
from media_pipeline.resources.store import LocalMediaStore

from .builders import change_deliverable_spec, write_campaign
from .fault_proxy import FaultProxy
from .set_faults import (
    CAMPAIGN,
    MANIFEST,
    assert_current_and_whole,
    put_into_version,
    run_in_process,
    s3_environment,
    versions,
)
from .xai_builders import TEST_API_KEY

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]
pytestmark = pytest.mark.slow

IN_CREATE = 0x100


def _cli(env: dict[str, str], **popen) -> subprocess.Popen:
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "media_pipeline.cli", "run", CAMPAIGN, "--json"], env=env, **popen)


def _cli_run(env: dict[str, str]) -> dict:
    done = _cli(env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-3000:]
    return json.loads(out)


def _kill_when(process: subprocess.Popen, ready, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"the run never reached {what}"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _local_env(tmp_path: Path, emulator) -> tuple[dict[str, str], LocalMediaStore]:
    """The environment of a local deployment generating with the emulator, and its store."""
    home, scratch = tmp_path / "home", tmp_path / "scratch"
    write_campaign(home / "drops", CAMPAIGN, shots=2, manifest=MANIFEST)
    scratch.mkdir()
    env = dict(
        os.environ,
        MEDIA_PIPELINE_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        TMPDIR=str(scratch),
        XAI_API_KEY=TEST_API_KEY,
        XAI_API_HOST=emulator.api_host,
        XAI_USE_INSECURE_CHANNEL="1",
    )
    for name in ("MEDIA_PIPELINE_STORE", "MEDIA_PIPELINE_DROPS", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    return env, LocalMediaStore(root=str(home / "store"))


def test_kill_during_assembly_leaves_the_previous_set_and_the_rerun_publishes_a_whole_one(
    instance, tmp_path, xai_emulator, monkeypatch
):
    env, store = _local_env(tmp_path, xai_emulator)
    scratch = Path(env["TMPDIR"])
    assert run_in_process(env, instance, monkeypatch).success
    first = current_deliverable(store, CAMPAIGN)
    paid = xai_emulator.count("GenerateVideo")

    change_deliverable_spec(tmp_path / "home" / "drops" / CAMPAIGN)  # an unchanged campaign takes its set as it is
    run = _cli(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(run, lambda: any(scratch.glob("**/deliverable-*/*")), "assembly")
    assert_current_and_whole(store, first, tmp_path)
    assert versions(store) == [first.version]

    summary = _cli_run(env)
    second = current_deliverable(store, CAMPAIGN)
    assert_current_and_whole(store, second, tmp_path)
    assert summary["deliverables"][0] == str(Path(store.root).resolve() / "deliverables" / CAMPAIGN / f"{CAMPAIGN}.mp4")
    assert xai_emulator.count("GenerateVideo") == paid


def test_kill_during_publish_leaves_the_previous_set_and_the_rerun_publishes_a_whole_one(
    s3_env, instance, tmp_path, xai_emulator, monkeypatch
):
    bucket = s3_env.make_bucket()
    home = tmp_path / "home"
    write_campaign(home / "drops", CAMPAIGN, shots=2, manifest=MANIFEST)
    host, port = s3_env.endpoint_url.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port)), put_into_version(bucket), trip_on=10**6, action="hold")
    try:
        env = dict(
            os.environ,
            **s3_environment(s3_env, proxy.endpoint_url, bucket, home, xai_emulator),
            DAGSTER_HOME=str(home / "dagster"),
            TMPDIR=str(tmp_path),
        )
        store = S3MediaStore(bucket=bucket, prefix="store")
        assert run_in_process(env, instance, monkeypatch).success
        first = current_deliverable(store, CAMPAIGN)
        paid = xai_emulator.count("GenerateVideo")

        change_deliverable_spec(home / "drops" / CAMPAIGN)  # an unchanged campaign takes its set as it is
        proxy.trip_on = proxy.matches + 2  # the second file of the new set hangs; then kill -9
        run = _cli(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_when(run, proxy.tripped.is_set, "publishing")
    finally:
        proxy.close()
    env["AWS_ENDPOINT_URL"] = s3_env.endpoint_url  # the store without the proxy
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env.endpoint_url)
    store = S3MediaStore(bucket=bucket, prefix="store")  # a store keeps its client: a new one for the new address
    assert_current_and_whole(store, first, tmp_path)
    (killed,) = [v for v in versions(store) if v != first.version]
    assert len(store.list_keys(f"deliverables/{CAMPAIGN}/v/{killed}/")) == 1  # half a set, named by nothing

    summary = _cli_run(env)
    second = current_deliverable(store, CAMPAIGN)
    assert_current_and_whole(store, second, tmp_path)
    assert versions(store) == [first.version, second.version]
    assert summary["deliverables"][0] == f"s3://{bucket}/store/deliverables/{CAMPAIGN}/{CAMPAIGN}.mp4"
    assert xai_emulator.count("GenerateVideo") == paid


class _Created:
    """inotify on one folder: ``wait`` returns True as soon as an entry is created in it."""

    def __init__(self, folder: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, str(folder).encode(), IN_CREATE) < 0:
            pytest.skip("no inotify here")

    def wait(self, timeout: float) -> bool:
        return bool(select.select([self.fd], [], [], timeout)[0])

    def close(self) -> None:
        os.close(self.fd)


def _kill_when_created(env: dict[str, str], folder: Path) -> None:
    """Run the CLI and SIGKILL it the moment an entry appears in ``folder``."""
    created = _Created(folder)
    run = _cli(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not created.wait(0.5):
            assert run.poll() is None, "the run ended before it published"
            assert time.monotonic() < deadline, "the run never published"
        run.send_signal(signal.SIGKILL)
    finally:
        created.close()
    run.wait(timeout=30)


def test_kill_during_a_publish_to_a_folder_store_leaves_the_previous_set_whole(
    instance, tmp_path, xai_emulator, monkeypatch
):
    env, store = _local_env(tmp_path, xai_emulator)
    assert run_in_process(env, instance, monkeypatch).success
    first = current_deliverable(store, CAMPAIGN)
    paid = xai_emulator.count("GenerateVideo")
    folder = Path(store.root) / f"deliverables/{CAMPAIGN}"
    for _ in range(3):  # the kill races the publish; one that lands after the switch is retried
        change_deliverable_spec(tmp_path / "home" / "drops" / CAMPAIGN)  # else the set is taken as it is
        _kill_when_created(env, folder / "v")
        if current_deliverable(store, CAMPAIGN) == first:
            break
        # the pointer was switched before the kill (perhaps before the stable names were): a whole run first
        change_deliverable_spec(tmp_path / "home" / "drops" / CAMPAIGN)
        assert run_in_process(env, instance, monkeypatch).success
        first = current_deliverable(store, CAMPAIGN)
    else:
        pytest.fail("three kills in a row landed after the switch")
    assert_current_and_whole(store, first, tmp_path)
    killed = versions(store)[-1]
    assert killed > first.version  # the killed run's folder, named by nothing
    assert os.path.realpath(folder / f"{CAMPAIGN}_9x16.mp4") == str(
        (folder / "v" / first.version).resolve() / f"{CAMPAIGN}_9x16.mp4"
    )

    _cli_run(env)
    second = current_deliverable(store, CAMPAIGN)
    assert_current_and_whole(store, second, tmp_path)
    assert killed not in versions(store) and versions(store)[-2:] == [first.version, second.version]
    assert xai_emulator.count("GenerateVideo") == paid
