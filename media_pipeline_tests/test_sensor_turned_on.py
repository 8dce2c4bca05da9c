"""image_drop_sensor turned on (an empty cursor) over campaigns already run: it requests a run only for campaigns
whose drop changed since their last complete run, read from what the instance recorded; folders that are not
campaign ids are named in its skip reason."""

import os
import time

from dagster import SensorResult, build_sensor_context, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.sensors import image_drop_sensor

from .builders import SMALL_MANIFEST, sample_image, write_campaign
from .conftest import add_campaign_partition


def _settled(folder) -> None:
    then = time.time() - 120
    for path in folder.iterdir():
        os.utime(path, (then, then))


def _tick(instance, resources, cursor=None) -> SensorResult:
    with build_sensor_context(instance=instance, cursor=cursor, resources={"drops": resources["drops"]}) as context:
        result = image_drop_sensor(context)
    assert isinstance(result, SensorResult)
    return result


def _run(instance, resources, campaign, **kwargs) -> None:
    add_campaign_partition(instance, campaign)
    assert materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, **kwargs
    ).success


def test_turned_on_over_up_to_date_campaigns_it_requests_only_the_changed_and_the_unfinished(
    instance, local_resources, drops_root
):
    folders = {c: write_campaign(drops_root, c, shots=1, manifest=SMALL_MANIFEST) for c in ("spring", "autumn")}
    for folder in folders.values():
        _settled(folder)
    _run(instance, local_resources, "spring")
    _run(instance, local_resources, "autumn")

    first = _tick(instance, local_resources)  # turned on over two up-to-date campaigns
    assert first.run_requests in (None, []) and "no new settled drops" in first.skip_reason.skip_message

    folders["summer"] = write_campaign(drops_root, "summer", shots=1, manifest=SMALL_MANIFEST)
    _run(instance, local_resources, "summer", selection=["source_images"])  # a run that never delivered

    sample_image(42).save(folders["autumn"] / "shot_1.png")  # changed while the sensor was off
    (drops_root / "Spring Sale").mkdir()
    sample_image(1).save(drops_root / "Spring Sale" / "a.png")
    for campaign in ("autumn", "summer"):  # spring stays exactly as its run read it
        _settled(folders[campaign])

    turned_on = _tick(instance, local_resources)  # a fresh cursor: as when the sensor is turned on
    assert sorted(r.partition_key for r in turned_on.run_requests) == ["autumn", "summer"]

    again = _tick(instance, local_resources, turned_on.cursor)
    assert again.run_requests in (None, [])
    reason = again.skip_reason.skip_message
    assert "not campaign ids" in reason and "'Spring Sale'" in reason
