"""The emulator's faults for the reliability suites, seen through the real ``xai_sdk`` client and plain HTTP."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import grpc
import pytest
import requests
from xai_sdk.proto import deferred_pb2

from media_pipeline.emulator.faults import Faults
from media_pipeline.emulator.files import NOT_A_VIDEO
from media_pipeline.emulator.options import build_parser, config_from_args
from media_pipeline.media.probe import probe
from media_pipeline_tests.emulator.sdk import sdk_client, sdk_generate, video_args
from media_pipeline_tests.xai_builders import EmulatorFactory

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def wait_done(client, request_id: str, timeout: float = 20):  # noqa: ANN001, ANN201 - SDK types
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = client.video.get(request_id)
        if reply.status != deferred_pb2.PENDING:
            return reply
        time.sleep(0.05)
    raise TimeoutError(request_id)


def test_a_lost_submit_reply_is_accepted_billed_and_rendered(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(lose_submit_reply_first=1)
    with sdk_client(emulator) as client:
        with pytest.raises(grpc.RpcError) as err:
            client.video.start(**video_args())
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        (lost,) = emulator.paid_requests
        assert lost.reply_lost and lost.usd == pytest.approx(0.09)
        reply = wait_done(client, lost.request_id)  # the request exists and renders
        assert reply.status == deferred_pb2.DONE and reply.response.video.url
        client.video.start(**video_args())
    stats = emulator.stats
    assert stats["GenerateVideo"] == {"LOST_REPLY": 1, "OK": 1}
    assert stats["paid"]["submits"] == 2 and stats["paid"]["replies_lost"] == 1
    # billed under the catalog's id: the -preview name is an alias of grok-imagine-video-1.5
    assert stats["paid"]["by_model"] == {"grok-imagine-video-1.5": {"requests": 2, "usd": pytest.approx(0.18)}}


def test_a_lost_reply_answered_unavailable_is_paid_twice_by_the_sdks_own_retry(
    xai_emulator_factory: EmulatorFactory,
) -> None:
    emulator = xai_emulator_factory(lose_submit_reply_first=1, lose_submit_reply_code="UNAVAILABLE")
    with sdk_client(emulator) as client:
        request_id = client.video.start(**video_args()).request_id
    assert [p.reply_lost for p in emulator.paid_requests] == [True, False]
    assert emulator.paid_requests[1].request_id == request_id


@pytest.mark.parametrize("method", ["GenerateVideo", "GetDeferredVideo"])
def test_deadline_exceeded_on_one_method_only(xai_emulator_factory: EmulatorFactory, method: str) -> None:
    emulator = xai_emulator_factory(fail_first=2, fail_code="DEADLINE_EXCEEDED", fail_method=method)
    with sdk_client(emulator) as client:
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as err:
                if method == "GenerateVideo":
                    client.video.start(**video_args())
                else:
                    client.video.get("any-request")
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert sdk_generate(client).url
    assert emulator.count(method, "DEADLINE_EXCEEDED") == 2
    other = {"GenerateVideo": "GetDeferredVideo", "GetDeferredVideo": "GenerateVideo"}[method]
    assert emulator.count(other, "DEADLINE_EXCEEDED") == 0
    assert len(emulator.paid_requests) == 1  # a failed submit is not accepted


def test_a_request_that_never_finishes(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(never_finish_first=1, latency_seconds=0.05)
    with sdk_client(emulator) as client:
        with pytest.raises(TimeoutError):
            sdk_generate(client, timeout=datetime.timedelta(seconds=1))
        with pytest.raises(TimeoutError):
            sdk_generate(client, prompt="push in [never]", timeout=datetime.timedelta(seconds=0.5))
        assert sdk_generate(client).url  # the third request is not faulted
    assert emulator.count("GetDeferredVideo", "PENDING") >= 10
    assert [p.usd > 0 for p in emulator.paid_requests] == [False, False, True]


def test_failed_first_n_and_marker_end_failed_with_the_apis_error_fields(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(failed_first=1)
    with sdk_client(emulator) as client:
        replies = [
            wait_done(client, client.video.start(**video_args(prompt=p)).request_id) for p in ("a", "b", "[fail]")
        ]
    assert [r.status for r in replies] == [deferred_pb2.FAILED, deferred_pb2.DONE, deferred_pb2.FAILED]
    error = replies[0].response.error
    assert error.code == "internal_error" and "internal error" in error.message
    assert replies[2].response.error == error and replies[2].response.video.respect_moderation
    assert emulator.calls[("fate", "failed")] == 2
    assert [p.usd > 0 for p in emulator.paid_requests] == [False, True, False]


def test_download_faults_500_not_a_video_and_gone(xai_emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    emulator = xai_emulator_factory(download_500_first=2, not_video_first=1)
    with sdk_client(emulator) as client:
        url = sdk_generate(client).url
        gone = sdk_generate(client, prompt="push in [gone]").url
        bad = sdk_generate(client, prompt="push in [not-video]").url
    statuses = [requests.get(url, timeout=10).status_code for _ in range(2)]
    assert statuses == [500, 500]
    first = requests.get(url, timeout=10)
    assert first.status_code == 200 and first.content == NOT_A_VIDEO
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(requests.get(url, timeout=10).content)
    assert probe(clip).video_codec == "h264"
    assert [requests.get(gone, timeout=10).status_code for _ in range(3)] == [410, 410, 410]
    assert all(requests.get(bad, timeout=10).content == NOT_A_VIDEO for _ in range(2))
    assert emulator.calls[("download", "500")] == 2 and emulator.calls[("download", "410")] == 3
    assert emulator.calls[("download", "not_video")] == 3 and emulator.calls[("download", "200")] == 1
    assert all(p.usd > 0 for p in emulator.paid_requests)  # a lost result was still paid for


def test_gone_first_n_and_a_404_status(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(gone_first=1, gone_status=404)
    with sdk_client(emulator) as client:
        first, second = sdk_generate(client).url, sdk_generate(client).url
    assert requests.get(first, timeout=10).status_code == 404
    assert requests.get(second, timeout=10).status_code == 200


def test_stats_endpoint_lists_paid_submits_with_server_times(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory()
    before = time.time()
    with sdk_client(emulator) as client:
        sdk_generate(client)
        sdk_generate(client, resolution="720p")
    stats = requests.get(f"{emulator.http_base}/_stats", timeout=10).json()
    assert stats["GenerateVideo"] == {"OK": 2}
    times = [s["at"] for s in stats["submits"]]
    assert before <= times[0] <= times[1] <= time.time()
    assert stats["paid"]["usd"] == pytest.approx(0.09 + 0.15)
    assert "do-not-leak" not in str(stats)  # the key is named by a hash only


def test_bad_fault_settings_are_refused_when_configured() -> None:
    with pytest.raises(ValueError, match="fail_method"):
        Faults(fail_method="Generate")
    with pytest.raises(ValueError, match="not_video_rate"):
        Faults(not_video_rate=2.0)
    with pytest.raises(ValueError, match="gRPC status code"):
        Faults(lose_submit_reply_code="LOST")


def test_command_line_maps_onto_the_faults() -> None:
    args = build_parser().parse_args(
        [
            "--lose-submit-reply-first",
            "3",
            "--fail-method",
            "GetDeferredVideo",
            "--never-finish-rate",
            "0.5",
            "--not-video-marker",
            "",
            "--gone-status",
            "404",
            "--failed-rate",
            "0.25",
        ]
    )
    faults = config_from_args(args).faults
    assert faults.lose_submit_reply_first == 3 and faults.fail_method == "GetDeferredVideo"
    assert faults.never_finish_rate == 0.5 and faults.not_video_marker is None
    assert faults.gone_status == 404 and faults.gone_marker == "[gone]"
    assert faults.failed_rate == 0.25 and faults.failed_first == 0 and faults.failed_marker == "[fail]"
