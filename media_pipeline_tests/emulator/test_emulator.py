"""The emulator through the real ``xai_sdk`` client over gRPC on loopback, with the SDK's own poller."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest
import requests
import xai_sdk
from xai_sdk.video import VideoGenerationError

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.media.probe import probe
from media_pipeline_tests.emulator.sdk import sdk_client, sdk_generate
from media_pipeline_tests.xai_builders import TEST_MODEL, EmulatorFactory, image_data_url

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]  # idempotent if conftest registers it too


def test_generate_returns_a_real_clip_with_cost(xai_emulator: XaiEmulator, tmp_path: Path) -> None:
    with sdk_client(xai_emulator) as client:
        response = sdk_generate(client, aspect_ratio="16:9")
    assert response.duration == 1 and response.respect_moderation
    assert response.model == TEST_MODEL
    assert response.cost_usd == pytest.approx(0.08 + 0.01)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(requests.get(response.url, timeout=10).content)
    info = probe(clip)
    assert (info.video_codec, info.width, info.height) == ("h264", 854, 480)
    assert info.duration == pytest.approx(1.0, abs=0.1)
    calls = xai_emulator.calls
    assert calls[("GenerateVideo", "OK")] == 1 and calls[("GetDeferredVideo", "DONE")] == 1
    assert calls[("download", "200")] == 1


def test_last_frame_is_priced_and_needs_the_1_5_model(xai_emulator: XaiEmulator) -> None:
    with sdk_client(xai_emulator) as client:
        response = sdk_generate(client, last_frame_url=image_data_url((30, 90, 200)), resolution="720p")
        assert response.cost_usd == pytest.approx(0.14 + 0.02)
        with pytest.raises(grpc.RpcError) as err:
            sdk_generate(client, model="grok-imagine-video", last_frame_url=image_data_url())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": 20}, "duration"),
        ({"image_url": "data:image/png;base64,aGVsbG8="}, "could not be decoded"),
        ({"image_url": "https://example.com/a.png"}, "could not fetch"),
    ],
)
def test_bad_input_is_invalid_argument(xai_emulator: XaiEmulator, kwargs: dict, message: str) -> None:
    with sdk_client(xai_emulator) as client, pytest.raises(grpc.RpcError) as err:
        sdk_generate(client, **kwargs)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()


def test_image_url_on_loopback_is_fetched(xai_emulator: XaiEmulator, tmp_path: Path) -> None:
    # the emulator's own file server is a loopback http URL: fetch a clip's first request image through it
    with sdk_client(xai_emulator) as client:
        first = sdk_generate(client)
        with pytest.raises(grpc.RpcError) as err:  # an mp4 is not an image: fetched, then refused
            sdk_generate(client, image_url=first.url)
    assert "could not be decoded" in err.value.details()


def test_wrong_key_is_unauthenticated(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(require_key="the-right-key")
    with sdk_client(emulator, key="a-wrong-key") as client, pytest.raises(grpc.RpcError) as err:
        sdk_generate(client)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "a-wrong-key" not in err.value.details()
    with sdk_client(emulator, key="the-right-key") as client:
        assert sdk_generate(client).url


def test_capacity_is_resource_exhausted(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(max_concurrent=1, latency_seconds=5)
    with sdk_client(emulator) as client:
        client.video.start(prompt="one", model=TEST_MODEL, image_url=image_data_url(), duration=1)
        with pytest.raises(grpc.RpcError) as err:
            client.video.start(prompt="two", model=TEST_MODEL, image_url=image_data_url(), duration=1)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 1


def test_moderation_and_expiry_markers(xai_emulator: XaiEmulator) -> None:
    with sdk_client(xai_emulator) as client:
        with pytest.raises(VideoGenerationError) as err:
            sdk_generate(client, prompt="push in [moderate]")
        assert err.value.code == "content_moderation"
        with pytest.raises(RuntimeError, match="expired"):
            sdk_generate(client, prompt="push in [expire]")
    assert xai_emulator.count("GetDeferredVideo", "FAILED") == 1
    assert xai_emulator.count("GetDeferredVideo", "EXPIRED") == 1


def test_sdk_retries_injected_unavailable(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(fail_first=2, fail_code="UNAVAILABLE")
    with sdk_client(emulator) as client:
        assert sdk_generate(client).url  # the SDK's channel retries UNAVAILABLE on its own
    assert emulator.count("GenerateVideo", "UNAVAILABLE") == 2
    assert emulator.count("GenerateVideo", "OK") == 1


def test_download_faults_and_render_cache(xai_emulator_factory: EmulatorFactory) -> None:
    emulator = xai_emulator_factory(download_500_first=1, truncate_first=1)
    with sdk_client(emulator) as client:
        first, second = sdk_generate(client), sdk_generate(client)
    assert requests.get(first.url, timeout=10).status_code == 500
    with urllib.request.urlopen(second.url, timeout=10) as response:
        promised = int(response.headers["Content-Length"])
        body = response.fp.read()  # the raw stream: the emulator cuts it short
    assert len(body) < promised
    assert len(requests.get(second.url, timeout=10).content) == promised
    assert emulator.renders <= 1  # identical requests share one render (and the session cache)
    assert emulator.count("download", "500") == 1 and emulator.count("download", "truncated") == 1


def test_cli_serves_until_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "media_pipeline.emulator.server",
            "--latency",
            "0.05",
            "--require-key",
            "k-cli",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        client = xai_sdk.Client(api_key="k-cli", api_host=ready["grpc"], use_insecure_channel=True, timeout=10)
        with client:
            assert sdk_generate(client).url.startswith(ready["http"])
        stats = requests.get(ready["stats"], timeout=10).json()
        assert stats["GenerateVideo"] == {"OK": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_a_port_already_taken_fails_start_and_leaves_nothing_behind(tmp_path) -> None:
    import glob
    import socket
    import tempfile

    before = set(glob.glob(f"{tempfile.gettempdir()}/xai-emulator-*"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        emulator = XaiEmulator(port=taken.getsockname()[1])
        with pytest.raises(RuntimeError):
            emulator.start()
        emulator.stop()  # safe, and returns at once
    assert set(glob.glob(f"{tempfile.gettempdir()}/xai-emulator-*")) == before
