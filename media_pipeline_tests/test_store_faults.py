"""Store faults while publishing: the store's disk full, the S3 server gone.

Each test publishes a first set, puts the fault on a second run and asserts what a reader sees afterwards (the
first set whole and current), the error as the CLI shows it (the campaign, the key and the store, no Dagster
wrapper), and that the re-run publishes a whole new set and pays for nothing again (the xAI emulator counts the
submits). The faults are real: a tmpfs filled up; a SeaweedFS server stopped, behind a TCP proxy that trips on
the second PUT of the new set.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.io_manager import StoreRecordIOManager
from media_pipeline.resources.publish import current_deliverable
from media_pipeline.resources.s3.store import S3MediaStore
from media_pipeline.resources.store import LocalMediaStore

from .builders import change_deliverable_spec, write_campaign
from .conftest import add_campaign_partition
from .fault_proxy import FaultProxy
from .s3_fixtures import start_seaweed
from .set_faults import (
    CAMPAIGN,
    MANIFEST,
    assert_current_and_whole,
    failure_text,
    put_into_version,
    run_in_process,
    s3_environment,
    versions,
)
from .xai_builders import xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]
pytestmark = pytest.mark.slow


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
    change_deliverable_spec(drops_root / CAMPAIGN)  # an unchanged campaign would take its set as it is

    full = run()
    assert not full.success
    shown, message = failure_text(full)
    assert shown.startswith(f"campaign '{CAMPAIGN}': deliverable not published (version {first.version} stays")
    assert f"{store.uri(f'deliverables/{CAMPAIGN}/v')}/" in message and "No space left on device" in message
    assert ".part" not in message
    assert_current_and_whole(store, first, tmp_path)
    assert versions(store) == [first.version]  # the half-written set was removed

    filler.unlink()
    assert run().success
    second = current_deliverable(store, CAMPAIGN)
    assert_current_and_whole(store, second, tmp_path)
    assert versions(store) == [first.version, second.version]
    assert xai_emulator.count("GenerateVideo") == paid  # nothing paid again


def test_the_store_going_down_while_publishing_keeps_the_previous_set(instance, tmp_path, xai_emulator, monkeypatch):
    workdir = tmp_path / "seaweed"
    server = start_seaweed(workdir)
    bucket = server.make_bucket()
    write_campaign(tmp_path / "home" / "drops", CAMPAIGN, shots=2, manifest=MANIFEST)
    host, port = server.endpoint_url.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port)), put_into_version(bucket), trip_on=10**6, action="down", on_trip=server.stop)
    try:
        env = s3_environment(server, proxy.endpoint_url, bucket, tmp_path / "home", xai_emulator)
        assert run_in_process(env, instance, monkeypatch).success
        first = current_deliverable(S3MediaStore(bucket=bucket, prefix="store"), CAMPAIGN)
        paid = xai_emulator.count("GenerateVideo")
        change_deliverable_spec(tmp_path / "home" / "drops" / CAMPAIGN)  # else the set is taken as it is
        proxy.trip_on = proxy.matches + 2  # the second file of the next set never arrives: the store is gone

        down = run_in_process(env, instance, monkeypatch)
        assert not down.success and proxy.tripped.is_set()
        shown, message = failure_text(down)
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
        env = s3_environment(server, server.endpoint_url, bucket, tmp_path / "home", xai_emulator)
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint_url)
        store = S3MediaStore(bucket=bucket, prefix="store")
        assert_current_and_whole(store, first, tmp_path)
        (half,) = [v for v in versions(store) if v != first.version]  # invisible: no pointer names it
        assert len(store.list_keys(f"deliverables/{CAMPAIGN}/v/{half}/")) == 1

        assert run_in_process(env, instance, monkeypatch).success
        second = current_deliverable(store, CAMPAIGN)
        assert_current_and_whole(store, second, tmp_path)
        assert versions(store) == [first.version, second.version]  # the half set is gone
        assert xai_emulator.count("GenerateVideo") == paid
    finally:
        server.stop()
