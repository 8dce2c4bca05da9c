"""The emulator behaves like the real API: per-(key, model) request rate, latency with jitter, the catalog's
models, prices and capabilities, and result URLs that lapse — seen through the real ``xai_sdk`` client."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import requests

from media_pipeline.emulator.options import build_parser, config_from_args
from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.resources.xai.catalog import MODELS_ENV, default_catalog
from media_pipeline_tests.emulator.sdk import sdk_client, sdk_generate, video_args
from media_pipeline_tests.xai_builders import EmulatorFactory, image_data_url

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def start_code(client, **changes: object) -> grpc.StatusCode:  # noqa: ANN001 - an xai_sdk.Client
    """``video.start`` and the status code it ends with (OK when accepted)."""
    try:
        client.video.start(**video_args(**changes))
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def start_when_allowed(client, **changes: object) -> str:  # noqa: ANN001 - an xai_sdk.Client
    """Submit, retrying RESOURCE_EXHAUSTED every 50 ms: a client that does not pace."""
    while True:
        try:
            return client.video.start(**video_args(**changes)).request_id
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            time.sleep(0.05)


def test_rps_refuses_a_burst_and_counts_the_refusals(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(rps=1)
    with sdk_client(emulator) as client, ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: start_code(client), range(6)))
    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 5
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 5
    assert emulator.stats["rate_limited"] == {"GenerateVideo": 5}
    assert len(emulator.paid_requests) == 1


def test_accepted_submits_are_at_least_one_second_apart_per_key_and_model(
    xai_emulator_factory: EmulatorFactory,
) -> None:
    emulator = xai_emulator_factory(rps=1)
    with sdk_client(emulator) as client, sdk_client(emulator, key="another-key") as other:
        for _ in range(3):
            start_when_allowed(client)
        # another model, and another key, each have a window of their own
        assert start_code(client, model="grok-imagine-video") == grpc.StatusCode.OK
        assert start_code(other) == grpc.StatusCode.OK
    times = [s["at"] for s in emulator.stats["submits"][:3]]
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:], strict=False))
    assert times[-1] - times[0] < 3.0  # and not much more: the window is 1 s
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") > 0


def test_polls_spend_the_rate_only_when_asked(xai_emulator_factory: EmulatorFactory) -> None:
    for rps_polls, expected in ((False, grpc.StatusCode.OK), (True, grpc.StatusCode.RESOURCE_EXHAUSTED)):
        emulator = xai_emulator_factory(rps=1, rps_polls=rps_polls)
        with sdk_client(emulator) as client:
            request_id = client.video.start(**video_args()).request_id
            try:
                client.video.get(request_id)
                code = grpc.StatusCode.OK
            except grpc.RpcError as err:
                code = err.code()
        assert code == expected
    assert emulator.stats["rate_limited"] == {"GetDeferredVideo": 1}


def test_latency_is_jittered_and_repeatable_with_a_seed(xai_emulator_factory: EmulatorFactory) -> None:
    def latencies(emulator: XaiEmulator) -> list[float]:
        with sdk_client(emulator) as client:
            ids = [client.video.start(**video_args()).request_id for _ in range(5)]
        assert emulator.jobs is not None
        return [round(emulator.jobs.get(i).ready_at - emulator.jobs.get(i).started_at, 6) for i in ids]

    first = latencies(xai_emulator_factory(latency_seconds=90, latency_jitter_seconds=30, seed=7))
    again = latencies(xai_emulator_factory(latency_seconds=90, latency_jitter_seconds=30, seed=7))
    assert first == again and len(set(first)) == 5
    assert all(60 <= s <= 120 for s in first)


def test_prices_come_from_the_catalog_per_model(xai_emulator_factory: EmulatorFactory) -> None:
    catalog = default_catalog().merged({"grok-imagine-video": {"usd_per_second": {"480p": 0.05, "720p": 0.07}}})
    emulator = xai_emulator_factory(catalog=catalog)
    with sdk_client(emulator) as client:
        base = sdk_generate(client, model="grok-imagine-video", resolution="720p", duration=2)
        keyed = sdk_generate(
            client,
            model="grok-imagine-video-1.5",
            keyframes=[{"image_url": image_data_url((10, 200, 10)), "timestamp": 0.5}],
            last_frame_url=image_data_url((30, 90, 200)),
        )
    assert base.cost_usd == pytest.approx(catalog.get("grok-imagine-video").price_usd(duration=2, resolution="720p"))
    v15 = catalog.get("grok-imagine-video-1.5").price_usd(duration=1, resolution="480p", input_images=3)
    assert keyed.cost_usd == pytest.approx(v15)
    by_model = emulator.stats["paid"]["by_model"]
    assert by_model["grok-imagine-video"]["usd"] == pytest.approx(0.14 + 0.01)
    assert by_model["grok-imagine-video-1.5"]["usd"] == pytest.approx(0.08 + 3 * 0.01)


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"model": "grok-imagine-vidoe"}, grpc.StatusCode.NOT_FOUND, "known models: grok-imagine-video,"),
        ({"model": "grok-imagine-video", "resolution": "1080p"}, grpc.StatusCode.INVALID_ARGUMENT, "1080p"),
        (
            {"model": "grok-imagine-video", "keyframes": [{"image_url": image_data_url(), "timestamp": 0.5}]},
            grpc.StatusCode.INVALID_ARGUMENT,
            "keyframes: grok-imagine-video accepts none",
        ),
    ],
)
def test_what_a_model_cannot_do_is_refused_like_the_api(
    xai_emulator: XaiEmulator, changes: dict, code: grpc.StatusCode, message: str
) -> None:
    with sdk_client(xai_emulator) as client, pytest.raises(grpc.RpcError) as err:
        client.video.start(**video_args(**changes))
    assert err.value.code() == code and message in err.value.details()
    assert xai_emulator.paid_requests == []


@pytest.mark.parametrize("status", [403, 410])
def test_result_urls_lapse_after_their_ttl(xai_emulator_factory: EmulatorFactory, status: int) -> None:
    emulator = xai_emulator_factory(url_ttl_seconds=1.0, url_expired_status=status)
    with sdk_client(emulator) as client:
        url = sdk_generate(client).url
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(1.2)
    assert requests.get(url, timeout=10).status_code == status
    assert emulator.count("download", "expired") == 1


def test_command_line_options_and_the_models_variable() -> None:
    args = build_parser().parse_args(
        ["--rps", "1", "--rps-polls", "--latency", "90", "--latency-jitter", "30", "--url-ttl", "5", "--seed", "3"]
    )
    env = {
        MODELS_ENV: json.dumps(
            {"grok-imagine-video-9": {"usd_per_second": {"480p": 1, "720p": 2}, "usd_per_input_image": 0}}
        )
    }
    config = config_from_args(args, env)
    assert (config.rps, config.rps_polls, config.latency_jitter_seconds, config.url_ttl_seconds) == (1, True, 30, 5)
    assert config.seed == 3 and config.faults.seed == 3
    assert "grok-imagine-video-9" in config.catalog
    assert config_from_args(build_parser().parse_args([]), {}).rps is None  # no limit unless asked
