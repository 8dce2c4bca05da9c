"""What a call brings in, checked the way the API checks it: the caller's key, and a ``GenerateVideoRequest``.

``read_request`` validates a request (model, prompt, duration, resolution, frames), fetches its images (data:
URLs and loopback http only), prices it and returns an ``Intake``; anything wrong is a ``Rejected`` with the
gRPC code and message the API would answer. Shared by the sync ``Video`` service and the batch service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc
from PIL import Image
from xai_sdk.cost import USD_PER_TICK
from xai_sdk.proto import video_pb2

from ..campaign import LAST_FRAME_MODEL_PREFIX
from ..resources.downloads import is_loopback_host
from ..resources.xai_api import ASPECT_RATIO_NAMES, MAX_PROMPT_CHARS, RESOLUTION_NAMES
from .config import EmulatorConfig

MODEL_PREFIX = "grok-imagine-video"


class Rejected(Exception):
    """Abort the call with this gRPC code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def caller_key(context: grpc.ServicerContext, expected: str | None) -> str:
    """A short hash naming the caller's API key (never the key); UNAUTHENTICATED when it is not ``expected``."""
    bearer = dict(context.invocation_metadata()).get("authorization", "")
    if expected is not None and bearer != f"Bearer {expected}":
        raise Rejected(grpc.StatusCode.UNAUTHENTICATED, "invalid or missing API key")
    return hashlib.sha256(str(bearer).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Intake:
    """A valid request: its settings, its images on disk and its price."""

    model: str
    prompt: str
    duration: int
    resolution: str
    aspect_ratio: str
    image: Path
    end_image: Path | None
    cost_ticks: int


def read_request(request: video_pb2.GenerateVideoRequest, config: EmulatorConfig, image_dir: Path) -> Intake:
    """Validate like the API, fetch the images and price the request; ``Rejected`` when it is refused."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    if not request.model.startswith(MODEL_PREFIX):
        raise Rejected(grpc.StatusCode.NOT_FOUND, f"model {request.model!r} not found")
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise Rejected(invalid, f"prompt longer than {MAX_PROMPT_CHARS} characters")
    duration = request.duration if request.HasField("duration") else 8
    if not 1 <= duration <= 15:
        raise Rejected(invalid, f"duration must be between 1 and 15 seconds, got {duration}")
    resolution = RESOLUTION_NAMES.get(request.resolution, "480p") if request.HasField("resolution") else "480p"
    aspect = ASPECT_RATIO_NAMES.get(request.aspect_ratio, "16:9") if request.HasField("aspect_ratio") else "16:9"
    if not request.HasField("image") or not request.image.image_url:
        raise Rejected(invalid, "the emulator serves image-to-video only: set image_url")
    has_last = request.HasField("last_frame") and bool(request.last_frame.image_url)
    if has_last and not request.model.startswith(LAST_FRAME_MODEL_PREFIX):
        raise Rejected(invalid, f"last_frame is only supported by {LAST_FRAME_MODEL_PREFIX}")
    limit = config.max_image_bytes
    image = fetch_image(request.image.image_url, "image", limit, image_dir)
    end_image = fetch_image(request.last_frame.image_url, "last_frame", limit, image_dir) if has_last else None
    images = 2 if has_last else 1
    usd = duration * config.price_per_second_usd[resolution] + config.price_per_image_usd * images
    return Intake(
        model=request.model,
        prompt=request.prompt,
        duration=duration,
        resolution=resolution,
        aspect_ratio=aspect,
        image=image,
        end_image=end_image,
        cost_ticks=round(usd / USD_PER_TICK),
    )


def fetch_image(url: str, what: str, limit: int, image_dir: Path) -> Path:
    """The image at ``url`` saved under its sha256; INVALID_ARGUMENT when it cannot be had or decoded."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if not header.endswith(";base64"):
            raise Rejected(invalid, f"{what}: only base64 data URLs are supported")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise Rejected(invalid, f"{what}: data URL is not valid base64") from None
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname):
            raise Rejected(invalid, f"{what}: could not fetch image URL (emulator fetches loopback only)")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
                data = response.read(limit + 1)
        except OSError as exc:
            raise Rejected(invalid, f"{what}: could not fetch image URL: {exc}") from None
    if len(data) > limit:
        raise Rejected(invalid, f"{what}: image larger than {limit} bytes")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            ext = (img.format or "png").lower()
    except Exception:
        raise Rejected(invalid, f"{what}: image could not be decoded") from None
    path = image_dir / f"{hashlib.sha256(data).hexdigest()}.{ext}"
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
