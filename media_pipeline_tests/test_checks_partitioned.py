"""Asset checks belong to one campaign: each result is recorded on the instance under its campaign's partition,
so a bad campaign fails only its own check, and the result's metadata names the campaign and its failing shots."""

from dagster import AssetCheckKey, AssetKey, materialize
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from media_pipeline.assets import campaign_assets

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition

IMAGES_VALID = AssetCheckKey(AssetKey("source_images"), "images_valid")


def test_each_campaigns_check_result_is_recorded_under_its_own_partition(instance, local_resources, drops_root):
    write_campaign(drops_root, "good", shots=2, manifest=SMALL_MANIFEST)
    bad = write_campaign(drops_root, "bad", shots=2, manifest=SMALL_MANIFEST)
    (bad / "shot_2.png").write_bytes(b"not a png at all")
    for campaign in ("good", "bad"):
        add_campaign_partition(instance, campaign)
        result = materialize(
            campaign_assets,
            selection=[AssetKey("source_images")],
            resources=local_resources,
            partition_key=campaign,
            instance=instance,
        )
        assert result.success

    by_partition = {
        info.partition_key: info.latest_execution_status
        for info in instance.event_log_storage.get_asset_check_partition_info([IMAGES_VALID])
    }
    assert by_partition == {
        "good": AssetCheckExecutionRecordStatus.SUCCEEDED,
        "bad": AssetCheckExecutionRecordStatus.FAILED,
    }
    history = instance.event_log_storage.get_asset_check_execution_history(IMAGES_VALID, limit=10)
    assert sorted(r.partition for r in history) == ["bad", "good"]
    failed = next(r for r in history if r.partition == "bad")
    evaluation = failed.event.dagster_event.event_specific_data
    assert evaluation.partition == "bad" and not evaluation.passed
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["campaign"] == "bad" and metadata["failing_shots"] == "shot_2"
    assert metadata["errors"].startswith("shot_2.png: ")
