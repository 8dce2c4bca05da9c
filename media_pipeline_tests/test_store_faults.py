"""Store faults around publishing: the store full, the store down, ``kill -9`` during assembly and publish.

Each test publishes a first set, puts the fault on a second run and asserts what a reader sees afterwards: the
first set whole and current (its pointer, its stable names, its files' hash), the error naming the campaign,
the key and the store; then a re-run publishes a whole new set and pays for nothing again (the xAI emulator
counts the submits). Faults are real: a tmpfs filled up, a SeaweedFS server stopped behind a TCP proxy that
trips on a chosen PUT, SIGKILL sent to the ``media-pipeline run`` process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.definitions import build_defs
from media_pipeline.records import Deliverable
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.io_manager import StoreRecordIOManager
from media_pipeline.resources.publish import current_deliverable
from media_pipeline.resources.s3_storage import S3MediaStore
from media_pipeline.resources.storage import LocalMediaStore, MediaStore
from media_pipeline.runner import cause_message

from .builders import write_campaign
from .conftest import add_campaign_partition
from .fault_proxy import FaultProxy
from .s3_fixtures import start_seaweed
from .xai_builders import TEST_API_KEY, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]
pytestmark = pytest.mark.slow

CAMPAIGN = "faulty"
MANIFEST = "resolution: 480p\nduration: 1\ndeliverable: {transition: cut, renditions: ['16:9', '9:16']}\n"


def _failure_text(result) -> tuple[str, str]:
    """The error as ``media-pipeline run`` shows it, and the innermost cause in full (paths under TMPDIR kept)."""
    (failure,) = result.get_step_failure_events()
    error = failure.event_specific_data.error
    shown = cause_message(error)
    while error.cause is not None:
        error = error.cause
    return shown, error.message


def _versions(store: MediaStore) -> list[str]:
    return store.list_children(f"deliverables/{CAMPAIGN}/v/")


def _assert_current_and_whole(store: MediaStore, record: Deliverable, tmp_path: Path) -> None:
    """The pointer names ``record``; its files and its stable master are there, with the master's hash."""
    assert current_deliverable(store, CAMPAIGN) == record
    assert all(store.exists(key) for key in record.keys)
    for key in (record.master_key, f"deliverables/{CAMPAIGN}/{CAMPAIGN}.mp4"):
        copy = store.get_file(key, tmp_path / "check.mp4")
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == record.sha256, key


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs: mounted directly as root, else inside a user namespace reached through /proc."""
    mount = tmp_path / "small"
    mount.mkdir()
    options = ["-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)]
    if subprocess.run(["mount", *options], capture_output=True).returncode == 0:
        yield mount
        subprocess.run(["umount", "-l", str(mount)], check=False)
        return
    holder = subprocess.Popen(
        [
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            f"mount {' '.join(options)} && echo mounted && exec sleep 600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        if holder.stdout.readline().strip() != "mounted":
            pytest.skip("no size-limited filesystem: neither mount nor an unprivileged mount namespace allowed")
        yield Path(f"/proc/{holder.pid}/root{mount}")
    finally:
        holder.kill()
        holder.wait()


def _fill(disk: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the filesystem at ``disk``."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as out:
        os.posix_fallocate(out.fileno(), 0, stats.f_bavail * stats.f_frsize - leave)
    return filler


def test_a_full_store_keeps_the_previous_set_and_names_the_key_and_the_store(
    instance, drops_root, small_disk, xai_emulator, tmp_path
):
    write_campaign(drops_root, CAMPAIGN, shots=2, manifest=MANIFEST)
    add_campaign_partition(instance, CAMPAIGN)
    store = LocalMediaStore(root=str(small_disk / "store"))
    resources = {
        "store": store,
        "drops": LocalDropZone(root=str(drops_root)),
        "generator": xai_generator_for(xai_emulator),
        "records_io_manager": StoreRecordIOManager(store=store),
    }

    def run():
        return materialize(
            campaign_assets, resources=resources, partition_key=CAMPAIGN, instance=instance, raise_on_error=False
        )

    assert run().success
    first = current_deliverable(store, CAMPAIGN)
    paid = xai_emulator.count("GenerateVideo")
    assert paid == 2
    set_bytes = sum((Path(store.root) / k).stat().st_size for k in first.keys)
    filler = _fill(small_disk, leave=set_bytes // 3)  # room for the records, not for a new set

    full = run()
    assert not full.success
    shown, message = _failure_text(full)
    assert shown.startswith(f"campaign '{CAMPAIGN}': deliverable not published (version {first.version} stays")
    assert f"{store.uri(f'deliverables/{CAMPAIGN}/v')}/" in message and "No space left on device" in message
    assert ".part" not in message
    _assert_current_and_whole(store, first, tmp_path)
    assert _versions(store) == [first.version]  # the half-written set was removed

    filler.unlink()
    assert run().success
    second = current_deliverable(store, CAMPAIGN)
    _assert_current_and_whole(store, second, tmp_path)
    assert _versions(store) == [first.version, second.version]
    assert xai_emulator.count("GenerateVideo") == paid  # nothing paid again


def _s3_env(server, endpoint: str, bucket: str, home: Path, emulator) -> dict[str, str]:
    return dict(
        server.env(),
        AWS_ENDPOINT_URL=endpoint,
        MEDIA_PIPELINE_HOME=str(home),
        MEDIA_PIPELINE_STORE=f"s3://{bucket}/store",
        MEDIA_PIPELINE_DROPS=str(home / "drops"),
        XAI_API_KEY=TEST_API_KEY,
        XAI_API_HOST=emulator.api_host,
        XAI_USE_INSECURE_CHANNEL="1",
    )


def _run_in_process(env: dict[str, str], instance, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if not instance.has_dynamic_partition("campaigns", CAMPAIGN):
        instance.add_dynamic_partitions("campaigns", [CAMPAIGN])
    return (
        build_defs(env)
        .resolve_job_def("campaign_job")
        .execute_in_process(partition_key=CAMPAIGN, instance=instance, raise_on_error=False)
    )


def _put_into_version(bucket: str) -> bytes:
    """The request line of a PUT into one of the campaign's version folders."""
    return rf"PUT /{bucket}/store/deliverables/{CAMPAIGN}/v/[^ ]+ HTTP".encode()


def test_the_store_going_down_while_publishing_keeps_the_previous_set(instance, tmp_path, xai_emulator, monkeypatch):
    workdir = tmp_path / "seaweed"
    server = start_seaweed(workdir)
    bucket = server.make_bucket()
    write_campaign(tmp_path / "home" / "drops", CAMPAIGN, shots=2, manifest=MANIFEST)
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port)), _put_into_version(bucket), trip_on=10**6, action="down", on_trip=server.stop)
    try:
        env = _s3_env(server, proxy.endpoint_url, bucket, tmp_path / "home", xai_emulator)
        assert _run_in_process(env, instance, monkeypatch).success
        first = current_deliverable(S3MediaStore(bucket=bucket, prefix="store"), CAMPAIGN)
        paid = xai_emulator.count("GenerateVideo")
        proxy.trip_on = proxy.matches + 2  # the second file of the next set never arrives: the store is gone

        down = _run_in_process(env, instance, monkeypatch)
        assert not down.success and proxy.tripped.is_set()
        shown, message = _failure_text(down)
        assert shown.startswith(
            f"campaign '{CAMPAIGN}': deliverable not published (version {first.version} stays current, whole): "
            f"s3://{bucket}/store/deliverables/{CAMPAIGN}/v/"
        )
        assert f"s3://{bucket}/store/deliverables/{CAMPAIGN}/v/" in message
        assert "cannot reach the S3 endpoint" in message and server.secret_key not in message
    finally:
        proxy.close()
        server.stop()

    server = start_seaweed(workdir)  # back up with the same data, at a new address
    try:
        env = _s3_env(server, server.endpoint_url, bucket, tmp_path / "home", xai_emulator)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
        store = S3MediaStore(bucket=bucket, prefix="store")
        _assert_current_and_whole(store, first, tmp_path)
        (half,) = [v for v in _versions(store) if v != first.version]  # invisible: no pointer names it
        assert len(store.list_keys(f"deliverables/{CAMPAIGN}/v/{half}/")) == 1

        assert _run_in_process(env, instance, monkeypatch).success
        second = current_deliverable(store, CAMPAIGN)
        _assert_current_and_whole(store, second, tmp_path)
        assert _versions(store) == [first.version, second.version]  # the half set is gone
        assert xai_emulator.count("GenerateVideo") == paid
    finally:
        server.stop()


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


def test_kill_during_assembly_leaves_the_previous_set_and_the_rerun_publishes_a_whole_one(
    instance, tmp_path, xai_emulator, monkeypatch
):
    home = tmp_path / "home"
    write_campaign(home / "drops", CAMPAIGN, shots=2, manifest=MANIFEST)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = dict(
        os.environ,
        MEDIA_PIPELINE_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        TMPDIR=str(scratch),
        XAI_API_KEY=TEST_API_KEY,
        XAI_API_HOST=xai_emulator.api_host,
        XAI_USE_INSECURE_CHANNEL="1",
    )
    for name in ("MEDIA_PIPELINE_STORE", "MEDIA_PIPELINE_DROPS", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    store = LocalMediaStore(root=str(home / "store"))
    assert _run_in_process(env, instance, monkeypatch).success
    first = current_deliverable(store, CAMPAIGN)
    paid = xai_emulator.count("GenerateVideo")

    run = _cli(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _kill_when(run, lambda: any(scratch.glob("**/deliverable-*/*")), "assembly")
    _assert_current_and_whole(store, first, tmp_path)
    assert _versions(store) == [first.version]

    summary = _cli_run(env)
    second = current_deliverable(store, CAMPAIGN)
    _assert_current_and_whole(store, second, tmp_path)
    assert summary["deliverables"][0] == str((home / "store").resolve() / "deliverables" / CAMPAIGN / f"{CAMPAIGN}.mp4")
    assert xai_emulator.count("GenerateVideo") == paid


def test_kill_during_publish_leaves_the_previous_set_and_the_rerun_publishes_a_whole_one(
    s3_env, instance, tmp_path, xai_emulator, monkeypatch
):
    bucket = s3_env.make_bucket()
    home = tmp_path / "home"
    write_campaign(home / "drops", CAMPAIGN, shots=2, manifest=MANIFEST)
    host, port = s3_env.endpoint_url.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port)), _put_into_version(bucket), trip_on=10**6, action="hold")
    try:
        env = dict(
            os.environ,
            **_s3_env(s3_env, proxy.endpoint_url, bucket, home, xai_emulator),
            DAGSTER_HOME=str(home / "dagster"),
            TMPDIR=str(tmp_path),
        )
        store = S3MediaStore(bucket=bucket, prefix="store")
        assert _run_in_process(env, instance, monkeypatch).success
        first = current_deliverable(store, CAMPAIGN)
        paid = xai_emulator.count("GenerateVideo")

        proxy.trip_on = proxy.matches + 2  # the second file of the new set hangs; then kill -9
        run = _cli(env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _kill_when(run, proxy.tripped.is_set, "publishing")
    finally:
        proxy.close()
    env["AWS_ENDPOINT_URL"] = s3_env.endpoint_url  # the store without the proxy
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_env.endpoint_url)
    store = S3MediaStore(bucket=bucket, prefix="store")  # a store keeps its client: a new one for the new address
    _assert_current_and_whole(store, first, tmp_path)
    (killed,) = [v for v in _versions(store) if v != first.version]
    assert len(store.list_keys(f"deliverables/{CAMPAIGN}/v/{killed}/")) == 1  # half a set, named by nothing

    summary = _cli_run(env)
    second = current_deliverable(store, CAMPAIGN)
    _assert_current_and_whole(store, second, tmp_path)
    assert _versions(store) == [first.version, second.version]
    assert summary["deliverables"][0] == f"s3://{bucket}/store/deliverables/{CAMPAIGN}/{CAMPAIGN}.mp4"
    assert xai_emulator.count("GenerateVideo") == paid
