"""Builders for tests against the xAI emulator: images, requests, a generator pointed at an emulator.

The fixtures that start emulators are in ``xai_fixtures.py``.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.resources.generator import ClipRequest
from media_pipeline.resources.xai.generator import XaiVideoGenerator

TEST_API_KEY = "xai-test-5f3c9d2e7a1b4c60a8e2-do-not-leak"
TEST_MODEL = "grok-imagine-video-1.5-preview"

EmulatorFactory = Callable[..., XaiEmulator]


def image_bytes(color: tuple[int, int, int] = (200, 60, 40), size: tuple[int, int] = (160, 96)) -> bytes:
    """A small PNG: a colour with a light square, so a first frame can be told from another image."""
    img = Image.new("RGB", size, color)
    img.paste((240, 240, 240), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def image_data_url(color: tuple[int, int, int] = (200, 60, 40)) -> str:
    """``image_bytes(color)`` as a ``data:`` URL, the way ``LocalMediaStore.fetch_url`` hands images out."""
    return "data:image/png;base64," + base64.b64encode(image_bytes(color)).decode()


def clip_request(shot: str = "s1", *, campaign: str = "spring", **changes: Any) -> ClipRequest:
    """A 1 s 480p request for ``shot``; ``changes`` override any field."""
    fields: dict[str, Any] = {
        "campaign": campaign,
        "shot": shot,
        "cache_key": f"xai-{campaign}-{shot}",
        "prompt": "slow push in on the product",
        "model": TEST_MODEL,
        "image_key": "sources/test.png",
        "image_url": image_data_url(),
        "duration": 1,
        "resolution": "480p",
        "aspect_ratio": "16:9",
    }
    fields.update(changes)
    return ClipRequest(**fields)


def xai_generator_for(emulator: XaiEmulator, **changes: Any) -> XaiVideoGenerator:
    """An ``XaiVideoGenerator`` pointed at ``emulator`` with test-speed polling and back-off."""
    fields: dict[str, Any] = {
        "api_key": TEST_API_KEY,
        "api_host": emulator.api_host,
        "use_insecure_channel": True,
        "poll_interval_seconds": 0.05,
        "timeout_seconds": 30,
        "rpc_timeout_seconds": 10,
        "max_retries": 40,
        "backoff_base_seconds": 0.02,
        "backoff_cap_seconds": 0.2,
        # the API's rate and latency are test_pacing's subject; elsewhere bursts and quick polls as before
        "rps": 1000.0,
        "first_poll_seconds": 0.05,
    }
    fields.update(changes)
    return XaiVideoGenerator(**fields)


def xai_cli_env(home: Path, emulator: XaiEmulator) -> dict[str, str]:
    """The environment of a user running ``media-pipeline`` against ``emulator`` with everything under ``home``."""
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return dict(
        os.environ,
        MEDIA_PIPELINE_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        TMPDIR=str(home),
        XAI_API_KEY=TEST_API_KEY,
        XAI_API_HOST=emulator.api_host,
        XAI_USE_INSECURE_CHANNEL="1",
    )
