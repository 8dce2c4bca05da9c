"""The emulated ``xai_api.Video`` gRPC service, built on the SDK's own protos.

``GenerateVideo`` checks the key, the inputs and the capacity the way the API does, fetches the image,
starts a real render and returns a request id; ``GetDeferredVideo`` answers PENDING until the request's
latency has passed (fixed + per second of video) and its render is done, then DONE with a result URL and
the cost in usd ticks, or FAILED (moderation, a failed render) or EXPIRED, as the faults say. Every call is
counted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import grpc
from PIL import Image
from xai_sdk.cost import USD_PER_TICK
from xai_sdk.proto import deferred_pb2, usage_pb2, video_pb2, video_pb2_grpc

from ..campaign import LAST_FRAME_MODEL_PREFIX
from ..resources.downloads import is_loopback_host
from ..resources.xai_api import (
    ASPECT_RATIO_NAMES,
    MAX_IMAGE_BYTES,
    MAX_PROMPT_CHARS,
    PRICE_PER_IMAGE_USD,
    PRICE_PER_SECOND_USD,
    RESOLUTION_NAMES,
)
from .faults import Faults, FaultState
from .renders import RenderPool
from .stats import CallCounter

MODEL_PREFIX = "grok-imagine-video"


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated API behaves: latency, capacity, prices, the expected key, faults."""

    latency_seconds: float = 1.0
    latency_per_second: float = 0.0
    max_concurrent: int = 16
    require_key: str | None = None
    render_concurrency: int = 2
    max_image_bytes: int = MAX_IMAGE_BYTES
    price_per_second_usd: Mapping[str, float] = field(default_factory=lambda: dict(PRICE_PER_SECOND_USD))
    price_per_image_usd: float = PRICE_PER_IMAGE_USD
    fps: int = 24
    faults: Faults = field(default_factory=Faults)


class _Rejected(Exception):
    """Abort the call with this gRPC code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Job:
    """One accepted request."""

    request_id: str
    model: str
    duration: int
    started_at: float
    ready_at: float
    cost_ticks: int
    outcome: Literal["done", "moderated", "expired"]
    render: Future[Path] | None = None

    def pending(self, now: float) -> bool:
        """Still being "generated": latency not over, or its clip not rendered yet."""
        return now < self.ready_at or (self.render is not None and not self.render.done())


class VideoService(video_pb2_grpc.VideoServicer):
    """The servicer: state of every request, capacity, faults and counters."""

    def __init__(
        self, config: EmulatorConfig, renders: RenderPool, image_dir: Path, http_base: Callable[[], str]
    ) -> None:
        self.config = config
        self.counter = CallCounter()
        self._renders = renders
        self._image_dir = image_dir
        self._http_base = http_base
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.fault_state = FaultState(config.faults)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; "first N" counters and the RNG start again."""
        self.fault_state = FaultState(faults)

    def clip_path(self, request_id: str) -> Path | None:
        """The rendered clip of a finished request (for the file server), or None."""
        job = self._jobs.get(request_id)
        if job is None or job.outcome != "done" or job.pending(time.monotonic()) or job.render is None:
            return None
        return job.render.result() if job.render.exception() is None else None

    # -- gRPC methods ---------------------------------------------------------------------------------------

    def GenerateVideo(  # noqa: N802 - gRPC method name
        self, request: video_pb2.GenerateVideoRequest, context: grpc.ServicerContext
    ) -> deferred_pb2.StartDeferredResponse:
        try:
            self._authenticate(context)
            code = self.fault_state.start_fails()
            if code is not None:
                raise _Rejected(code, "injected fault")
            job_args, image, end_image = self._accept(request)
            with self._lock:  # the capacity check and the insert are one step
                now = time.monotonic()
                busy = sum(1 for j in self._jobs.values() if j.pending(now))
                if busy >= self.config.max_concurrent:
                    raise _Rejected(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"too many concurrent video requests (limit {self.config.max_concurrent})",
                    )
                job = self._start(request, now, image, end_image, **job_args)
                self._jobs[job.request_id] = job
        except _Rejected as rejected:
            self.counter.add("GenerateVideo", rejected.code.name)
            context.abort(rejected.code, str(rejected))
        self.counter.add("GenerateVideo", "OK")
        return deferred_pb2.StartDeferredResponse(request_id=job.request_id)

    def GetDeferredVideo(  # noqa: N802 - gRPC method name
        self, request: video_pb2.GetDeferredVideoRequest, context: grpc.ServicerContext
    ) -> video_pb2.GetDeferredVideoResponse:
        try:
            self._authenticate(context)
            slow = self.fault_state.faults.slow_poll_seconds
            if slow > 0:
                time.sleep(slow)
            job = self._jobs.get(request.request_id)
            if job is None:
                raise _Rejected(grpc.StatusCode.NOT_FOUND, f"no deferred request {request.request_id!r}")
        except _Rejected as rejected:
            self.counter.add("GetDeferredVideo", rejected.code.name)
            context.abort(rejected.code, str(rejected))
        reply = self._status(job)
        self.counter.add("GetDeferredVideo", deferred_pb2.DeferredStatus.Name(reply.status))
        return reply

    # -- helpers --------------------------------------------------------------------------------------------

    def _authenticate(self, context: grpc.ServicerContext) -> None:
        expected = self.config.require_key
        if expected is None:
            return
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {expected}":
            raise _Rejected(grpc.StatusCode.UNAUTHENTICATED, "invalid or missing API key")

    def _accept(self, request: video_pb2.GenerateVideoRequest) -> tuple[dict, Path, Path | None]:
        """Validate like the API; fetch the images. Returns the job's settings and the image files."""
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        if not request.model.startswith(MODEL_PREFIX):
            raise _Rejected(grpc.StatusCode.NOT_FOUND, f"model {request.model!r} not found")
        if len(request.prompt) > MAX_PROMPT_CHARS:
            raise _Rejected(invalid, f"prompt longer than {MAX_PROMPT_CHARS} characters")
        duration = request.duration if request.HasField("duration") else 8
        if not 1 <= duration <= 15:
            raise _Rejected(invalid, f"duration must be between 1 and 15 seconds, got {duration}")
        resolution = RESOLUTION_NAMES.get(request.resolution, "480p") if request.HasField("resolution") else "480p"
        aspect = ASPECT_RATIO_NAMES.get(request.aspect_ratio, "16:9") if request.HasField("aspect_ratio") else "16:9"
        if not request.HasField("image") or not request.image.image_url:
            raise _Rejected(invalid, "the emulator serves image-to-video only: set image_url")
        has_last = request.HasField("last_frame") and bool(request.last_frame.image_url)
        if has_last and not request.model.startswith(LAST_FRAME_MODEL_PREFIX):
            raise _Rejected(invalid, f"last_frame is only supported by {LAST_FRAME_MODEL_PREFIX}")
        image = self._fetch_image(request.image.image_url, "image")
        end_image = self._fetch_image(request.last_frame.image_url, "last_frame") if has_last else None
        usd = duration * self.config.price_per_second_usd[resolution] + self.config.price_per_image_usd * (
            2 if has_last else 1
        )
        settings = {
            "duration": duration,
            "resolution": resolution,
            "aspect": aspect,
            "cost_ticks": round(usd / USD_PER_TICK),
        }
        return settings, image, end_image

    def _start(
        self,
        request: video_pb2.GenerateVideoRequest,
        now: float,
        image: Path,
        end_image: Path | None,
        *,
        duration: int,
        resolution: str,
        aspect: str,
        cost_ticks: int,
    ) -> Job:
        faults = self.fault_state
        outcome: Literal["done", "moderated", "expired"] = "done"
        if faults.moderated(request.prompt):
            outcome = "moderated"
        elif faults.expires(request.prompt):
            outcome = "expired"
        render = None
        if outcome == "done":
            render = self._renders.submit(
                image,
                prompt=request.prompt,
                duration=duration,
                resolution=resolution,
                aspect_ratio=aspect,
                end_image=end_image,
            )
        latency = self.config.latency_seconds + self.config.latency_per_second * duration
        return Job(
            request_id=str(uuid.uuid4()),
            model=request.model,
            duration=duration,
            started_at=now,
            ready_at=now + latency,
            cost_ticks=cost_ticks,
            outcome=outcome,
            render=render,
        )

    def _fetch_image(self, url: str, what: str) -> Path:
        """The image at ``url`` saved under its sha256; INVALID_ARGUMENT when it cannot be had or decoded."""
        invalid = grpc.StatusCode.INVALID_ARGUMENT
        limit = self.config.max_image_bytes
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            if not header.endswith(";base64"):
                raise _Rejected(invalid, f"{what}: only base64 data URLs are supported")
            try:
                data = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                raise _Rejected(invalid, f"{what}: data URL is not valid base64") from None
        else:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname):
                raise _Rejected(invalid, f"{what}: could not fetch image URL (emulator fetches loopback only)")
            try:
                with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
                    data = response.read(limit + 1)
            except OSError as exc:
                raise _Rejected(invalid, f"{what}: could not fetch image URL: {exc}") from None
        if len(data) > limit:
            raise _Rejected(invalid, f"{what}: image larger than {limit} bytes")
        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
                ext = (img.format or "png").lower()
        except Exception:
            raise _Rejected(invalid, f"{what}: image could not be decoded") from None
        path = self._image_dir / f"{hashlib.sha256(data).hexdigest()}.{ext}"
        if not path.exists():
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.part")
            tmp.write_bytes(data)
            tmp.replace(path)
        return path

    def _status(self, job: Job) -> video_pb2.GetDeferredVideoResponse:
        now = time.monotonic()
        if job.pending(now):
            span = max(job.ready_at - job.started_at, 1e-9)
            progress = min(99, int(100 * (now - job.started_at) / span))
            return video_pb2.GetDeferredVideoResponse(
                status=deferred_pb2.PENDING,
                response=video_pb2.VideoResponse(model=job.model, progress=progress),
            )
        if job.outcome == "expired":
            return video_pb2.GetDeferredVideoResponse(status=deferred_pb2.EXPIRED)
        if job.outcome == "moderated":
            return _failed(job, "content_moderation", "the request was rejected by content moderation", False)
        assert job.render is not None
        error = job.render.exception()
        if error is not None:
            return _failed(job, "internal_error", f"video generation failed: {error}"[:500], True)
        return video_pb2.GetDeferredVideoResponse(
            status=deferred_pb2.DONE,
            response=video_pb2.VideoResponse(
                video=video_pb2.GeneratedVideo(
                    url=f"{self._http_base()}/videos/{job.request_id}.mp4",
                    duration=job.duration,
                    respect_moderation=True,
                ),
                model=job.model,
                usage=usage_pb2.SamplingUsage(cost_in_usd_ticks=job.cost_ticks),
                progress=100,
            ),
        )


def _failed(job: Job, code: str, message: str, respect_moderation: bool) -> video_pb2.GetDeferredVideoResponse:
    return video_pb2.GetDeferredVideoResponse(
        status=deferred_pb2.FAILED,
        response=video_pb2.VideoResponse(
            model=job.model,
            error=video_pb2.VideoError(code=code, message=message),
            video=video_pb2.GeneratedVideo(respect_moderation=respect_moderation),
        ),
    )
