"""The real ``xai_sdk`` client pointed at an emulator, for the emulator's own tests."""

from __future__ import annotations

import datetime

import xai_sdk
from xai_sdk.video import VideoResponse

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline_tests.xai_builders import TEST_API_KEY, TEST_MODEL, image_data_url

FAST = datetime.timedelta(seconds=0.05)


def sdk_client(emulator: XaiEmulator, key: str = TEST_API_KEY) -> xai_sdk.Client:
    """An SDK client on the emulator's insecure loopback channel, with a 10 s call timeout."""
    return xai_sdk.Client(api_key=key, api_host=emulator.api_host, use_insecure_channel=True, timeout=10)


def video_args(**changes: object) -> dict[str, object]:
    """A 1 s 480p image-to-video request's arguments; ``changes`` override any."""
    args: dict[str, object] = {
        "prompt": "slow push in on the product",
        "model": TEST_MODEL,
        "image_url": image_data_url(),
        "duration": 1,
        "resolution": "480p",
    }
    args.update(changes)
    return args


def sdk_generate(
    client: xai_sdk.Client, prompt: str = "slow push in on the product", **kwargs: object
) -> VideoResponse:
    """``client.video.generate`` with the SDK's own poller at test speed."""
    return client.video.generate(interval=FAST, **video_args(prompt=prompt, **kwargs))
