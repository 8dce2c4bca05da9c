"""What a call brings in, checked the way the API checks it: the caller's key, and a ``GenerateVideoRequest``.

``model_spec`` finds the requested model in the catalog (NOT_FOUND naming the known ones); ``read_request``
validates a request against that model's capabilities (duration, resolution, last frame, keyframes, reference
images), gets its images (``uploads.ImageInputs``: the caller's xAI files, or data: URLs and loopback http
fetched here), prices it from the catalog and returns an
``Intake``; anything wrong is a ``Rejected`` with the gRPC code and message the API would answer. Keyframes and
reference images are fetched, checked and priced, but the render follows only the first and last frames.
Shared by the sync ``Video`` service and the batch service.
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
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import grpc
from PIL import Image
from xai_sdk.cost import USD_PER_TICK
from xai_sdk.proto import video_pb2

from ..resources.http import is_loopback_host
from ..resources.xai.catalog import (
    ASPECT_RATIO_NAMES,
    DEFAULT_DURATION_SECONDS,
    MAX_PROMPT_CHARS,
    RESOLUTION_NAMES,
    ModelCatalog,
    ModelSpec,
    UnknownModel,
)
from .config import EmulatorConfig

if TYPE_CHECKING:
    from .uploads import ImageInputs


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

    model: str  # as requested (the API echoes it)
    model_id: str  # the catalog's id, aliases resolved: what limits and bills
    prompt: str
    duration: int
    resolution: str
    aspect_ratio: str
    image: Path
    end_image: Path | None
    cost_ticks: int
    audio: bool = True  # generate_audio: unset means True, as the SDK documents
    keyframes: int = 0
    reference_images: int = 0


def model_spec(model: str, catalog: ModelCatalog) -> ModelSpec:
    """The catalog's spec of ``model``; NOT_FOUND naming the model and the known ones."""
    try:
        return catalog.get(model)
    except UnknownModel as exc:
        raise Rejected(grpc.StatusCode.NOT_FOUND, str(exc)) from None


def read_request(
    request: video_pb2.GenerateVideoRequest, config: EmulatorConfig, inputs: ImageInputs, *, batch: bool = False
) -> Intake:
    """Validate like the API, get the images (``inputs``: files or URLs) and price the request; ``Rejected`` when
    it is refused."""
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    spec = model_spec(request.model, config.catalog)
    if len(request.prompt) > MAX_PROMPT_CHARS:
        raise Rejected(invalid, f"prompt longer than {MAX_PROMPT_CHARS} characters")
    duration = request.duration if request.HasField("duration") else DEFAULT_DURATION_SECONDS
    resolution = RESOLUTION_NAMES.get(request.resolution, "480p") if request.HasField("resolution") else "480p"
    aspect = ASPECT_RATIO_NAMES.get(request.aspect_ratio, "16:9") if request.HasField("aspect_ratio") else "16:9"
    if not request.HasField("image"):
        raise Rejected(invalid, "the emulator serves image-to-video only: set image_url or image_file_id")
    has_last = request.HasField("last_frame")
    problems = spec.problems(
        duration=duration,
        resolution=resolution,
        last_frame=has_last,
        keyframes=len(request.keyframes),
        reference_images=len(request.reference_images),
    )
    if problems:
        raise Rejected(invalid, problems[0])
    image = inputs.path(request.image, "image")
    end_image = inputs.path(request.last_frame, "last_frame") if has_last else None
    for i, keyframe in enumerate(request.keyframes):
        inputs.path(keyframe.image, f"keyframes[{i}]")
    for i, reference in enumerate(request.reference_images):
        inputs.path(reference, f"reference_images[{i}]")
    images = 1 + int(has_last) + len(request.keyframes) + len(request.reference_images)
    usd = spec.price_usd(duration=duration, resolution=resolution, input_images=images, batch=batch)
    return Intake(
        model=request.model,
        model_id=spec.id,
        prompt=request.prompt,
        duration=duration,
        resolution=resolution,
        aspect_ratio=aspect,
        image=image,
        end_image=end_image,
        cost_ticks=round(usd / USD_PER_TICK),
        audio=request.generate_audio if request.HasField("generate_audio") else True,
        keyframes=len(request.keyframes),
        reference_images=len(request.reference_images),
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
    ext = check_image(data, what)
    path = image_dir / f"{hashlib.sha256(data).hexdigest()}.{ext}"
    if not path.exists():
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def check_image(data: bytes, what: str) -> str:
    """The image format's extension (``png``); INVALID_ARGUMENT when ``data`` does not decode as an image."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            return (img.format or "png").lower()
    except Exception:
        raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: image could not be decoded") from None
