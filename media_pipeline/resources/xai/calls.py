"""The xAI video calls we make, as thin typed wrappers over the SDK, and what their errors mean.

``start`` and ``get`` are ``client.video.start`` / ``client.video.get`` with our ``ClipRequest`` (its images as URLs
or as xAI file ids); ``rpc_error`` reads a gRPC error's code and (redacted) details, and the code sets say which are
worth a retry (``RETRYABLE``), which may have landed (``AMBIGUOUS``) and which mean the key itself is refused
(``CREDENTIALS``); ``call`` makes one call with pacing, back-off and that mapping; ``Gone`` is an id the API no longer
knows, ``Tally`` what a shot's calls spent. ``failure`` says why a finished request has no clip, and
``request_problems`` lists what the API would refuse of a request, so it is refused before anything is paid.
Nothing here holds the API key in a message: gRPC errors can echo request metadata, so every text is redacted.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import grpc
from xai_sdk import Client
from xai_sdk.proto import deferred_pb2, video_pb2
from xai_sdk.types.video import VideoAspectRatioMap, VideoResolutionMap

from ..generator import ClipRequest, GeneratorStopped, ShotFailed
from ..http import describe_url
from .catalog import MAX_MESSAGE_BYTES, RESOLUTIONS, ModelCatalog, UnknownModel

if TYPE_CHECKING:
    from .generator import XaiVideoGenerator

T = TypeVar("T")
RETRYABLE = frozenset(
    {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
CREDENTIALS = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
AMBIGUOUS = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})  # a submit may have landed
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


class Gone(Exception):
    """The API no longer knows a journaled id (NOT_FOUND): a request to submit anew, a file to upload again."""


@dataclass
class Tally:
    """What one shot's attempt (or one campaign's batch step) spent in this run."""

    api_calls: int = 0
    submits: int = 0
    uncertain_submits: int = 0
    cost_usd: float = 0.0
    request_id: str | None = None


def sdk_arguments(request: ClipRequest, file_ids: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The keyword arguments of ``client.video.start`` / ``prepare`` for ``request``: its images as URLs, or as
    xAI files when ``file_ids`` (by store key) is given. Options left at their default are not sent, so a default
    request is the same message it always was."""
    arguments: dict[str, Any] = {
        "prompt": request.prompt, "model": request.model, "duration": request.duration,
        "resolution": request.resolution, "aspect_ratio": request.aspect_ratio,  # checked by request_problems
    }  # fmt: skip
    last = request.last_frame_key
    if file_ids is None:
        arguments.update(image_url=request.image_url, last_frame_url=request.last_frame_url)
        keyframes = [{"image_url": k.url, "timestamp": k.timestamp} for k in request.keyframes]
        references = {"reference_image_urls": list(request.reference_urls)}
    else:
        arguments.update(image_file_id=file_ids[request.image_key], last_frame_file_id=file_ids[last] if last else None)
        keyframes = [{"image_file_id": file_ids[k.key], "timestamp": k.timestamp} for k in request.keyframes]
        references = {"reference_image_file_ids": [file_ids[key] for key in request.reference_keys]}
    if not request.generate_audio:
        arguments["generate_audio"] = False
    if keyframes:
        arguments["keyframes"] = keyframes
    if next(iter(references.values())):
        arguments.update(references)
    return arguments


def call(
    g: XaiVideoGenerator,
    where: str,
    tally: Tally,
    method: str,
    fn: Callable[[], T],
    *,
    on_error: Callable[[grpc.StatusCode | None], None] | None = None,
    not_found_is_gone: bool = False,
    model: str | None = None,
) -> T:
    """Make one API call through ``g`` with back-off on the retryable codes; map the rest to our exceptions.

    Each attempt first waits for ``model``'s request budget (``Budgets.paced``). ``on_error`` sees the code of every
    failed attempt (the submit uses it to keep ambiguous ones in the ledger); ``Gone`` for NOT_FOUND when
    ``not_found_is_gone``; a refused key stops every thread of ``g`` (``GeneratorStopped``).
    """
    attempt = 0
    while True:
        g.check_running()
        try:
            with g.budgets().paced(model, method):
                g.check_running()
                tally.api_calls += 1
                return fn()
        except grpc.RpcError as exc:
            code, details = rpc_error(exc, g.api_key)
        if on_error is not None:
            on_error(code)
        name = code.name if code else "UNKNOWN"
        if code in CREDENTIALS:
            raise GeneratorStopped(g.stop(name)) from None
        retryable = code in RETRYABLE and "larger than max" not in details  # too big stays too big
        if retryable and attempt < g.max_retries:
            time.sleep(g.backoff(attempt))
            attempt += 1
            continue
        if code == grpc.StatusCode.NOT_FOUND and not_found_is_gone:
            raise Gone()
        if retryable:
            raise ShotFailed(f"{where}: xAI {method} still {name} after {attempt + 1} attempts: {details}")
        raise ShotFailed(f"{where}: xAI {method} failed with {name}: {details}")


def start(
    client: Client, request: ClipRequest, file_ids: Mapping[str, str] | None = None
) -> deferred_pb2.StartDeferredResponse:
    """Submit ``request`` (GenerateVideo), its images as files when ``file_ids``; the reply holds its request id."""
    return client.video.start(**sdk_arguments(request, file_ids))


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
    if request.hosting == "xai_files":  # uploaded, not sent inside the request
        return problems
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
