"""image_drop_sensor, called with build_sensor_context on a temp drops folder and a real instance."""

import os
import time

from dagster import SensorResult, build_sensor_context

from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.sensors import image_drop_sensor

from .builders import sample_image, write_campaign


def _age(folder, seconds: float) -> None:
    """Make every file of a drop look ``seconds`` old."""
    then = time.time() - seconds
    for path in folder.iterdir():
        os.utime(path, (then, then))


def _tick(instance, drops_root, cursor=None) -> SensorResult:
    resources = {"drops": LocalDropZone(root=str(drops_root))}
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = image_drop_sensor(context)
    assert isinstance(result, SensorResult)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_new_settled_drop_adds_partition_and_requests_one_run(instance, drops_root):
    _age(write_campaign(drops_root, "spring"), 120)
    result = _tick(instance, drops_root)
    assert [r.partition_key for r in result.run_requests] == ["spring"]
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["spring"]]
    assert instance.get_dynamic_partitions("campaigns") == ["spring"]


def test_unchanged_drop_requests_nothing_and_a_changed_image_runs_again(instance, drops_root):
    folder = write_campaign(drops_root, "spring")
    _age(folder, 120)
    first = _tick(instance, drops_root)
    again = _tick(instance, drops_root, first.cursor)
    assert again.run_requests in (None, []) and "no new settled drops" in again.skip_reason.skip_message

    sample_image(99).save(folder / "shot_2.png")  # rewritten in place
    _age(folder, 120)
    changed = _tick(instance, drops_root, again.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["spring"]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key
    assert not changed.dynamic_partitions_requests  # the partition exists already


def test_added_image_runs_again(instance, drops_root):
    folder = write_campaign(drops_root, "spring", shots=2)
    _age(folder, 120)
    first = _tick(instance, drops_root)
    sample_image(7).save(folder / "shot_9.png")
    _age(folder, 120)
    assert len(_tick(instance, drops_root, first.cursor).run_requests) == 1


def test_unsettled_drop_waits_then_runs_once_settled(instance, drops_root):
    folder = write_campaign(drops_root, "spring")
    fresh = _tick(instance, drops_root)
    assert not fresh.run_requests and "spring" in fresh.skip_reason.skip_message
    assert instance.get_dynamic_partitions("campaigns") == []
    _age(folder, 120)
    assert len(_tick(instance, drops_root, fresh.cursor).run_requests) == 1


def test_invalid_campaign_folders_are_skipped_and_the_others_go_on(instance, drops_root):
    _age(write_campaign(drops_root, "Bad Name"), 120)
    _age(write_campaign(drops_root, "good"), 120)
    result = _tick(instance, drops_root)
    assert [r.partition_key for r in result.run_requests] == ["good"]
    assert "Bad Name" in result.cursor


def test_a_folder_whose_name_only_starts_like_a_campaign_id_is_skipped(instance, drops_root):
    _age(write_campaign(drops_root, "spring\n"), 120)
    _age(write_campaign(drops_root, "good"), 120)
    result = _tick(instance, drops_root)
    assert [r.partition_key for r in result.run_requests] == ["good"]
    assert instance.get_dynamic_partitions("campaigns") == ["good"]


def test_an_empty_settle_setting_means_the_default_as_the_startup_check_reads_it(monkeypatch):
    from media_pipeline.sensors import DEFAULT_SETTLE_SECONDS, settle_seconds

    monkeypatch.setenv("MEDIA_PIPELINE_SETTLE_SECONDS", "")
    assert settle_seconds() == DEFAULT_SETTLE_SECONDS
    monkeypatch.setenv("MEDIA_PIPELINE_SETTLE_SECONDS", "2.5")
    assert settle_seconds() == 2.5
