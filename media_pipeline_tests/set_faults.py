"""What the store-fault and kill tests share: the campaign, how to run it, and what "whole" means to a reader.

A set is whole and current when the campaign's pointer names it, every file it names is in the store, and both
its master and the stable ``deliverables/<campaign>/<campaign>.mp4`` have the master's SHA-256.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from media_pipeline.definitions import build_defs
from media_pipeline.records import Deliverable
from media_pipeline.resources.publish import current_deliverable
from media_pipeline.resources.store import MediaStore
from media_pipeline.runner import cause_message

from .xai_builders import TEST_API_KEY

CAMPAIGN = "faulty"
MANIFEST = "resolution: 480p\nduration: 1\ndeliverable: {transition: cut, renditions: ['16:9', '9:16']}\n"


def failure_text(result) -> tuple[str, str]:
    """The error as ``media-pipeline run`` shows it, and the innermost cause in full (paths under TMPDIR kept)."""
    (failure,) = result.get_step_failure_events()
    error = failure.event_specific_data.error
    shown = cause_message(error)
    while error.cause is not None:
        error = error.cause
    return shown, error.message


def versions(store: MediaStore) -> list[str]:
    return store.list_children(f"deliverables/{CAMPAIGN}/v/")


def assert_current_and_whole(store: MediaStore, record: Deliverable, tmp_path: Path) -> None:
    """The pointer names ``record``; its files and its stable master are there, with the master's hash."""
    assert current_deliverable(store, CAMPAIGN) == record
    assert all(store.exists(key) for key in record.keys)
    for key in (record.master_key, f"deliverables/{CAMPAIGN}/{CAMPAIGN}.mp4"):
        copy = store.get_file(key, tmp_path / "check.mp4")
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == record.sha256, key


def s3_environment(server, endpoint: str, bucket: str, home: Path, emulator) -> dict[str, str]:
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


def run_in_process(env: dict[str, str], instance, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if not instance.has_dynamic_partition("campaigns", CAMPAIGN):
        instance.add_dynamic_partitions("campaigns", [CAMPAIGN])
    return (
        build_defs(env)
        .resolve_implicit_global_asset_job_def()
        .execute_in_process(partition_key=CAMPAIGN, instance=instance, raise_on_error=False)
    )


def put_into_version(bucket: str) -> bytes:
    """The request line of a PUT into one of the campaign's version folders."""
    return rf"PUT /{bucket}/store/deliverables/{CAMPAIGN}/v/[^ ]+ HTTP".encode()
