"""The emulator's ``BatchMgmt`` service through the real SDK's ``client.batch`` and ``client.video.prepare``."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
import requests
import xai_sdk
from xai_sdk.proto import batch_pb2

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.media.probe import probe
from media_pipeline.resources.xai.catalog import default_catalog
from media_pipeline_tests.emulator.sdk import sdk_client, video_args
from media_pipeline_tests.xai_builders import EmulatorFactory

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

Meta = batch_pb2.BatchRequestMetadata


def prepared(client: xai_sdk.Client, request_id: str, **changes: object) -> batch_pb2.BatchRequest:
    return client.video.prepare(batch_request_id=request_id, **video_args(**changes))


def wait_finished(client: xai_sdk.Client, batch_id: str, timeout: float = 30) -> batch_pb2.Batch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batch.get(batch_id)
        if batch.state.num_pending == 0:
            return batch
        time.sleep(0.05)
    raise TimeoutError(batch_id)


def test_a_batch_of_video_requests_delivers_clips_at_the_batch_price(xai_emulator: XaiEmulator, tmp_path: Path) -> None:
    with sdk_client(xai_emulator) as client:
        batch = client.batch.create("overnight")
        client.batch.add(
            batch.batch_id,
            [
                prepared(client, "shot-1"),
                prepared(client, "shot-2", prompt="push in [moderate]"),
                prepared(client, "shot-3", model="grok-imagine-vidoe"),
            ],
        )
        done = wait_finished(client, batch.batch_id)
        results = client.batch.list_batch_results(batch.batch_id)
    assert (done.name, done.state.num_requests, done.state.num_success, done.state.num_error) == ("overnight", 3, 1, 2)
    (ok,) = results.succeeded
    assert ok.batch_request_id == "shot-1"
    price = default_catalog().get("grok-imagine-video-1.5").price_usd(duration=1, resolution="480p", batch=True)
    assert ok.video_response.cost_usd == pytest.approx(price) and done.cost_breakdown.total_cost_usd_ticks > 0
    clip = tmp_path / "shot-1.mp4"
    clip.write_bytes(requests.get(ok.video_response.url, timeout=10).content)
    assert probe(clip).video_codec == "h264"
    failed = {r.batch_request_id: r.error_message for r in results.failed}
    assert "content_moderation" in failed["shot-2"] and "known models" in failed["shot-3"]
    stats = xai_emulator.stats
    assert stats["paid"]["batch_requests"] == 2 and stats["paid"]["usd"] == pytest.approx(price)
    assert "GenerateVideo" not in stats and stats["submits"] == []
    assert stats["AddBatchRequests"] == {"OK": 1} and stats["ListBatchResults"] == {"OK": 1}


def test_batch_requests_are_not_rate_limited_and_results_page(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(rps=1)
    with sdk_client(emulator) as client:
        batch = client.batch.create("many")
        client.batch.add(batch.batch_id, [prepared(client, f"s{n}", prompt=f"shot {n}") for n in range(5)])
        assert wait_finished(client, batch.batch_id).state.num_success == 5
        first = client.batch.list_batch_results(batch.batch_id, limit=3)
        second = client.batch.list_batch_results(batch.batch_id, limit=3, pagination_token=first.pagination_token)
        metadata = client.batch.list_batch_requests(batch.batch_id).batch_request_metadata
    assert len(first.results) == 3 and len(second.results) == 2 and second.pagination_token is None
    ids = {r.batch_request_id for r in [*first.results, *second.results]}
    assert ids == {f"s{n}" for n in range(5)}
    assert {m.state for m in metadata} == {Meta.STATE_SUCCEEDED}
    assert "rate_limited" not in emulator.stats


def test_batch_result_urls_lapse_after_the_batch_ttl(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(batch_url_ttl_seconds=1.0)
    with sdk_client(emulator) as client:
        batch = client.batch.create("short-lived")
        client.batch.add(batch.batch_id, [prepared(client, "s1")])
        wait_finished(client, batch.batch_id)
        (result,) = client.batch.list_batch_results(batch.batch_id).succeeded
    url = result.video_response.url
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(1.2)
    assert requests.get(url, timeout=10).status_code == 403


def test_cancel_stops_pending_requests_and_bills_nothing(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(batch_latency_seconds=60)
    with sdk_client(emulator) as client:
        batch = client.batch.create("cancelled")
        client.batch.add(batch.batch_id, [prepared(client, "s1"), prepared(client, "s2", prompt="other")])
        assert client.batch.get(batch.batch_id).state.num_pending == 2
        cancelled = client.batch.cancel(batch.batch_id)
        with pytest.raises(grpc.RpcError) as err:
            client.batch.add(batch.batch_id, [prepared(client, "s3")])
        assert client.batch.list_batch_results(batch.batch_id).results == []
    assert cancelled.state.num_cancelled == 2 and cancelled.HasField("cancel_time")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert emulator.stats["paid"]["usd"] == 0 and emulator.stats["paid"]["batch_requests"] == 2


def test_batches_belong_to_their_key_and_request_ids_are_unique(xai_emulator: XaiEmulator) -> None:
    with sdk_client(xai_emulator) as client, sdk_client(xai_emulator, key="another-key") as other:
        batch = client.batch.create("mine")
        with pytest.raises(grpc.RpcError) as not_found:
            other.batch.get(batch.batch_id)
        with pytest.raises(grpc.RpcError) as duplicate:
            client.batch.add(batch.batch_id, [prepared(client, "same"), prepared(client, "same")])
        assert [b.batch_id for b in client.batch.list().batches] == [batch.batch_id]
        assert list(other.batch.list().batches) == []
    assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
    assert duplicate.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'same'" in duplicate.value.details()
    assert xai_emulator.paid_requests == []


def test_pending_batch_requests_take_no_sync_capacity(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(max_concurrent=1, batch_latency_seconds=60)
    with sdk_client(emulator) as client:
        batch = client.batch.create("slow")
        client.batch.add(batch.batch_id, [prepared(client, "s1"), prepared(client, "s2", prompt="other")])
        assert client.batch.get(batch.batch_id).state.num_pending == 2
        client.video.start(**video_args())  # the one sync slot is free
        with pytest.raises(grpc.RpcError) as err:
            client.video.start(**video_args())
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
