"""The chain on a real S3 server (SeaweedFS, signatures enforced): S3 drops -> S3 store -> the emulator fetching
presigned URLs -> a deliverable in the bucket; the sensor on an S3 drop zone; the store going down between stages.
"""

import json
import time
from pathlib import Path

import pytest
from dagster import AssetKey, SensorResult, build_sensor_context

from media_pipeline.definitions import build_defs
from media_pipeline.media.probe import probe
from media_pipeline.resources.s3.drops import S3DropZone
from media_pipeline.sensors import image_drop_sensor

from .builders import SMALL_MANIFEST, sample_image, write_campaign
from .s3_fixtures import start_seaweed
from .xai_builders import TEST_API_KEY

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def _upload_campaign(client, bucket: str, folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        client.upload_file(str(path), bucket, f"drops/{folder.name}/{path.name}")


def _environment(server, bucket: str, home: Path, emulator, monkeypatch) -> dict[str, str]:
    """The environment a user sets for an S3 deployment generating with xAI (here: the emulator)."""
    env = dict(
        server.env(),
        MEDIA_PIPELINE_HOME=str(home),
        MEDIA_PIPELINE_STORE=f"s3://{bucket}/store",
        MEDIA_PIPELINE_DROPS=f"s3://{bucket}/drops",
        XAI_API_KEY=TEST_API_KEY,
        XAI_API_HOST=emulator.api_host,
        XAI_USE_INSECURE_CHANNEL="1",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _run(env, instance, campaign):
    if not instance.has_dynamic_partition("campaigns", campaign):
        instance.add_dynamic_partitions("campaigns", [campaign])
    return (
        build_defs(env)
        .resolve_implicit_global_asset_job_def()
        .execute_in_process(partition_key=campaign, instance=instance, raise_on_error=False)
    )


def _keys(client, bucket: str, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_s3_drops_to_a_deliverable_in_the_bucket_with_nothing_on_local_disk(
    s3_env, instance, tmp_path, xai_emulator, monkeypatch
):
    bucket = s3_env.make_bucket()
    client = s3_env.client()
    _upload_campaign(client, bucket, write_campaign(tmp_path / "local", "s3camp", shots=2, manifest=SMALL_MANIFEST))
    home = tmp_path / "home"
    env = _environment(s3_env, bucket, home, xai_emulator, monkeypatch)

    result = _run(env, instance, "s3camp")
    assert result.success, [e.event_specific_data.error.message for e in result.get_step_failure_events()]
    keys = _keys(client, bucket, "store/")
    assert "store/deliverables/s3camp/s3camp.mp4" in keys
    journal = [k for k in keys if k.startswith("store/jobs/s3camp/")]  # keyed by clip, naming the shot
    entries = [json.loads(client.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in journal]
    assert sorted((e["shot"], e["status"]) for e in entries) == [("shot_1", "done"), ("shot_2", "done")]
    assert all(k == f"store/jobs/s3camp/{e['cache_key']}.json" for k, e in zip(journal, entries, strict=True))
    assert {
        f"store/records/{a}/s3camp.json" for a in ("source_images", "hosted_images", "generated_clips", "deliverable")
    } <= set(keys)
    hosted = json.loads(client.get_object(Bucket=bucket, Key="store/records/hosted_images/s3camp.json")["Body"].read())
    url = hosted["images"]["shot_1.png"]["url"]
    assert url.startswith(s3_env.endpoint_url) and "X-Amz-Signature=" in url  # the emulator fetched this URL
    assert xai_emulator.count("GenerateVideo", "OK") == 2

    client.download_file(bucket, "store/deliverables/s3camp/s3camp.mp4", str(tmp_path / "out.mp4"))
    info = probe(tmp_path / "out.mp4")
    assert info.video_codec == "h264" and info.video_duration == pytest.approx(1.75, abs=0.05)
    assert not home.exists() or not any(p.is_file() for p in home.rglob("*"))
    event = instance.get_latest_materialization_event(AssetKey("deliverable"))
    assert event.asset_materialization.metadata["path"].value == f"s3://{bucket}/store/deliverables/s3camp/s3camp.mp4"


def _tick(instance, zone, cursor=None) -> SensorResult:
    with build_sensor_context(instance=instance, cursor=cursor, resources={"drops": zone}) as context:
        result = image_drop_sensor(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_s3_drop_sensor_new_unsettled_unchanged_and_changed(s3_env, instance, tmp_path, monkeypatch):
    for name, value in s3_env.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MEDIA_PIPELINE_SETTLE_SECONDS", "2")
    bucket = s3_env.make_bucket()
    client = s3_env.client()
    zone = S3DropZone.from_environment(bucket=bucket, prefix="drops")
    folder = write_campaign(tmp_path / "local", "bucketdrop", shots=2)
    _upload_campaign(client, bucket, folder)

    unsettled = _tick(instance, zone)
    assert not unsettled.run_requests and "bucketdrop" in unsettled.skip_reason.skip_message
    time.sleep(2.5)
    new = _tick(instance, zone, unsettled.cursor)
    assert [r.partition_key for r in new.run_requests] == ["bucketdrop"]
    assert instance.get_dynamic_partitions("campaigns") == ["bucketdrop"]
    unchanged = _tick(instance, zone, new.cursor)
    assert not unchanged.run_requests

    sample_image(77).save(folder / "shot_1.png")
    client.upload_file(str(folder / "shot_1.png"), bucket, "drops/bucketdrop/shot_1.png")  # rewritten key
    time.sleep(2.5)
    changed = _tick(instance, zone, unchanged.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["bucketdrop"]
    assert changed.run_requests[0].run_key != new.run_requests[0].run_key

    client.delete_object(Bucket=bucket, Key="drops/bucketdrop/shot_2.png")  # a deleted key does not wedge it
    time.sleep(2.5)
    assert len(_tick(instance, zone, changed.cursor).run_requests) == 1


def test_the_store_going_down_between_stages_is_a_clear_error_and_the_rerun_regenerates_nothing(
    instance, tmp_path, xai_emulator, monkeypatch
):
    workdir = tmp_path / "seaweed"
    server = start_seaweed(workdir)
    try:
        bucket = server.make_bucket()
        _upload_campaign(
            server.client(), bucket, write_campaign(tmp_path / "local", "outage", shots=2, manifest=SMALL_MANIFEST)
        )
        env = _environment(server, bucket, tmp_path / "home", xai_emulator, monkeypatch)
        job = build_defs(env).resolve_implicit_global_asset_job_def()
        instance.add_dynamic_partitions("campaigns", ["outage"])
        upstream = [AssetKey("source_images"), AssetKey("hosted_images"), AssetKey("generated_clips")]
        assert job.execute_in_process(partition_key="outage", instance=instance, asset_selection=upstream).success
        generated = xai_emulator.count("GenerateVideo", "OK")
        assert generated == 2
    finally:
        server.stop()  # the store goes down

    down = job.execute_in_process(
        partition_key="outage", instance=instance, raise_on_error=False, asset_selection=[AssetKey("deliverable")]
    )
    error, chain = down.get_step_failure_events()[0].event_specific_data.error, []
    while error is not None:  # Dagster wraps a failed input load; the store's own error is the cause
        chain.append(error.message)
        error = error.cause
    message = "\n".join(chain)
    assert f"s3://{bucket}/store/records/generated_clips/outage.json" in message
    assert "cannot reach the S3 endpoint" in message
    assert server.secret_key not in message

    server = start_seaweed(workdir)  # back up, same data, new address
    try:
        env = _environment(server, bucket, tmp_path / "home", xai_emulator, monkeypatch)
        again = _run(env, instance, "outage")
        assert again.success, [e.event_specific_data.error.message for e in again.get_step_failure_events()]
        assert xai_emulator.count("GenerateVideo") == generated  # nothing regenerated
        assert "store/deliverables/outage/outage.mp4" in _keys(server.client(), bucket, "store/")
    finally:
        server.stop()
