"""The xAI video calls we make, as thin typed wrappers over the SDK, and what their errors mean.

``start`` and ``get`` are ``client.video.start`` / ``client.video.get`` with our ``ClipRequest``; ``rpc_error`` reads
a gRPC error's code and (redacted) details, and the code sets say which are worth a retry (``RETRYABLE``) and which
mean the key itself is refused (``CREDENTIALS``). ``failure`` says why a finished request has no clip, and
``request_problems`` lists what the API would refuse of a request, so it is refused before anything is paid.
Nothing here holds the API key in a message: gRPC errors can echo request metadata, so every text is redacted.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any
from urllib.parse import urlsplit

import grpc
from xai_sdk import Client
from xai_sdk.proto import deferred_pb2, video_pb2
from xai_sdk.types.video import VideoAspectRatioMap, VideoResolutionMap

from ..generator import ClipRequest
from ..http import describe_url
from .catalog import MAX_MESSAGE_BYTES, RESOLUTIONS, ModelCatalog, UnknownModel

RETRYABLE = frozenset(
    {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
CREDENTIALS = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
MIB = 1 << 20
_BEARER = re.compile(r"(?i)bearer\s+\S+")


def connect(client: Client, timeout: float) -> None:
    """Open the client's channel now, so that the first paced call is not late by the connection's set-up (a late
    call lands closer to the next one than the budget spaced them). The SDK keeps its channel private: without it,
    or when it does not connect in time, the first call connects and reports what is wrong."""
    channel = getattr(client, "_api_channel", None)
    if channel is not None:
        with contextlib.suppress(grpc.FutureTimeoutError):
            grpc.channel_ready_future(channel).result(timeout=timeout)


def sdk_arguments(request: ClipRequest) -> dict[str, Any]:
    """The keyword arguments of ``client.video.start`` / ``prepare`` for ``request``. Options left at their
    default are not sent, so a default request is the same message it always was."""
    arguments: dict[str, Any] = {
        "prompt": request.prompt, "model": request.model, "image_url": request.image_url,
        "last_frame_url": request.last_frame_url, "duration": request.duration,
        "resolution": request.resolution, "aspect_ratio": request.aspect_ratio,  # checked by request_problems
    }  # fmt: skip
    if not request.generate_audio:
        arguments["generate_audio"] = False
    if request.keyframes:
        arguments["keyframes"] = [{"image_url": k.url, "timestamp": k.timestamp} for k in request.keyframes]
    if request.reference_urls:
        arguments["reference_image_urls"] = list(request.reference_urls)
    return arguments


def start(client: Client, request: ClipRequest) -> deferred_pb2.StartDeferredResponse:
    """Submit ``request`` (GenerateVideo); the reply holds its request id."""
    return client.video.start(**sdk_arguments(request))


def get(client: Client, request_id: str) -> video_pb2.GetDeferredVideoResponse:
    """Poll one request (GetDeferredVideo)."""
    return client.video.get(request_id)


def redact(text: str, api_key: str) -> str:
    """``text`` with the API key and any bearer token removed."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    return _BEARER.sub("Bearer [redacted]", text)


def rpc_error(exc: grpc.RpcError, api_key: str) -> tuple[grpc.StatusCode | None, str]:
    """The code (None when the error carries none) and redacted details of a failed call."""
    if not isinstance(exc, grpc.Call):
        return None, "no details"
    return exc.code(), redact(exc.details() or "", api_key) or "no details"


def failure(request_id: str, reply: video_pb2.GetDeferredVideoResponse, api_key: str) -> str:
    """Why a finished request has no clip: FAILED with the API's code and message, or no URL (moderation)."""
    error = reply.response.error if reply.HasField("response") else None
    if reply.status == deferred_pb2.DONE:
        video = reply.response.video
        why = "it did not pass moderation" if not video.respect_moderation else "no URL was returned"
        return f"xAI request {request_id} finished but {why}"
    code = error.code if error and error.code else "UNKNOWN"
    message = redact(error.message, api_key) if error and error.message else "no details"
    return f"xAI request {request_id} failed [{code}]: {message}"


def request_problems(
    request: ClipRequest, catalog: ModelCatalog, *, max_prompt_chars: int, max_image_bytes: int
) -> list[str]:
    """What the API would refuse of ``request``, each naming the setting; empty when it would take it."""
    problems: list[str] = []
    try:
        spec = catalog.get(request.model)
        if request.keyframes or request.reference_keys:  # inputs a model may lack (the rest checked as before)
            problems.extend(
                spec.problems(
                    duration=request.duration, resolution=request.resolution,
                    keyframes=len(request.keyframes), reference_images=len(request.reference_keys),
                )
            )  # fmt: skip
    except UnknownModel as exc:
        problems.append(str(exc))
    if not 1 <= request.duration <= 15:
        problems.append(f"duration {request.duration} s is outside 1-15 s")
    if request.resolution not in VideoResolutionMap or request.resolution not in RESOLUTIONS:
        problems.append(f"resolution {request.resolution!r} is not one of {sorted(RESOLUTIONS)}")
    if request.aspect_ratio not in VideoAspectRatioMap:
        problems.append(f"aspect ratio {request.aspect_ratio!r} is not one of {list(VideoAspectRatioMap)}")
    if len(request.prompt) > max_prompt_chars:
        problems.append(f"prompt is {len(request.prompt)} characters, over {max_prompt_chars}")
    urls = {"image": request.image_url, "last frame": request.last_frame_url}
    urls.update({f"keyframe {i + 1}": k.url for i, k in enumerate(request.keyframes)})
    urls.update({f"reference image {i + 1}": url for i, url in enumerate(request.reference_urls)})
    for what, url in urls.items():
        if url is not None:
            problems.extend(_url_problems(what, url, max_image_bytes))
    if sum(len(u) for u in urls.values() if u) > MAX_MESSAGE_BYTES - MIB:
        problems.append("the images are too large to send in one request (20 MiB)")
    return problems


def _url_problems(what: str, url: str, max_image_bytes: int) -> list[str]:
    if url.startswith("data:"):
        size = len(url.partition(",")[2]) * 3 // 4
        if size > max_image_bytes:
            return [f"{what} is {size // MIB} MiB, over the {max_image_bytes // MIB} MiB limit"]
        return []
    if urlsplit(url).scheme not in ("https", "http"):
        return [f"{what} URL {describe_url(url)} is neither a data: nor an http(s) URL"]
    return []
