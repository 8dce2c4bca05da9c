"""nightly_campaign_refresh: one request per campaign whose current set is missing or older than its drop.

The schedule follows each campaign's pointer (``deliverables/<campaign>/current.json``), so a set that was never
switched in, such as the leftovers of a run killed while publishing, counts as missing.
"""

import os
import time

from dagster import build_schedule_context

from media_pipeline.records import Deliverable
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.publish import publishing
from media_pipeline.resources.store import LocalMediaStore
from media_pipeline.schedules import nightly_campaign_refresh

from .builders import write_campaign


def _set_mtime(folder, when: float) -> None:
    for path in folder.iterdir():
        os.utime(path, (when, when))


def _publish(store: LocalMediaStore, campaign: str, tmp_path) -> None:
    """Publish a one-file set for ``campaign`` the way the deliverable asset does."""
    master = tmp_path / f"{campaign}.mp4"
    master.write_bytes(b"video")
    with publishing(store, campaign) as upload:
        key = upload.put(master)
        upload.switch(
            Deliverable(
                campaign=campaign,
                master_key=key,
                renditions=[],
                poster_key=key,
                contact_sheet_key=key,
                duration=1.0,
                sha256="0" * 64,
            )
        )


def _evaluate(instance, drops_root, store):
    resources = {"drops": LocalDropZone(root=str(drops_root)), "store": store}
    with build_schedule_context(instance=instance, resources=resources) as context:
        return nightly_campaign_refresh(context)


def test_requests_only_missing_or_stale_deliverables(instance, drops_root, tmp_path):
    store = LocalMediaStore(root=str(tmp_path / "store"))
    now = time.time()
    for campaign in ("fresh", "stale", "never", "killed"):
        write_campaign(drops_root, campaign, shots=1)
        _set_mtime(drops_root / campaign, now - 3600)
        instance.add_dynamic_partitions("campaigns", [campaign])
    for campaign in ("fresh", "stale"):
        _publish(store, campaign, tmp_path)
    _set_mtime(drops_root / "stale", now + 60)  # a file changed after the set was published
    store.put_bytes("deliverables/killed/v/20260101T000000000000Z-dead00/killed.mp4", b"half a set")

    requests = _evaluate(instance, drops_root, store)
    assert sorted(r.partition_key for r in requests) == ["killed", "never", "stale"]
    assert {r.tags["media_pipeline/trigger"] for r in requests} == {"nightly"}


def test_nothing_to_do_is_a_skip(instance, drops_root, tmp_path):
    store = LocalMediaStore(root=str(tmp_path / "store"))
    write_campaign(drops_root, "done", shots=1)
    _set_mtime(drops_root / "done", time.time() - 3600)
    instance.add_dynamic_partitions("campaigns", ["done"])
    _publish(store, "done", tmp_path)
    assert "up to date" in _evaluate(instance, drops_root, store).skip_message
