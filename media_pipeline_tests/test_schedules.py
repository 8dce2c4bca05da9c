"""nightly_campaign_refresh: one request per campaign whose deliverable is missing or older than its drop."""

import os
import time

from dagster import AssetMaterialization, build_schedule_context

from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.schedules import nightly_campaign_refresh

from .builders import write_campaign


def _set_mtime(folder, when: float) -> None:
    for path in folder.iterdir():
        os.utime(path, (when, when))


def test_requests_only_missing_or_stale_deliverables(instance, drops_root):
    now = time.time()
    for campaign in ("fresh", "stale", "never"):
        write_campaign(drops_root, campaign, shots=1)
        instance.add_dynamic_partitions("campaigns", [campaign])
    _set_mtime(drops_root / "fresh", now - 3600)
    _set_mtime(drops_root / "never", now - 3600)
    for campaign in ("fresh", "stale"):
        instance.report_runless_asset_event(AssetMaterialization(asset_key="deliverable", partition=campaign))
    _set_mtime(drops_root / "stale", now + 60)  # a file changed after the deliverable was made

    context = build_schedule_context(instance=instance, resources={"drops": LocalDropZone(root=str(drops_root))})
    requests = nightly_campaign_refresh(context)
    assert sorted(r.partition_key for r in requests) == ["never", "stale"]


def test_nothing_to_do_is_a_skip(instance, drops_root):
    write_campaign(drops_root, "done", shots=1)
    _set_mtime(drops_root / "done", time.time() - 3600)
    instance.add_dynamic_partitions("campaigns", ["done"])
    instance.report_runless_asset_event(AssetMaterialization(asset_key="deliverable", partition="done"))
    context = build_schedule_context(instance=instance, resources={"drops": LocalDropZone(root=str(drops_root))})
    assert "up to date" in nightly_campaign_refresh(context).skip_message
