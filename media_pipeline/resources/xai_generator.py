"""``XaiVideoGenerator``: one shot's clip from xAI's image-to-video API through the official ``xai_sdk``.

We call ``client.video.start`` and ``client.video.get`` ourselves (not ``generate``) so that we own polling:
the request id is journaled in the store between the two (``journal.py``), which is what keeps a re-run, a
crash or a timeout from paying for the same clip twice. Around each call: exponential back-off with full
jitter on RESOURCE_EXHAUSTED / UNAVAILABLE / DEADLINE_EXCEEDED; the API's per-request failures (FAILED with
its code and message, moderation included) become ``ShotFailed``; EXPIRED is resubmitted once; a refused key
stops every thread (``GeneratorStopped``). The result URL (valid 24 h) is streamed into the store at once
and probed before the outcome is returned. The API key never appears in a message, log line or file.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import grpc
from dagster import InitResourceContext
from pydantic import Field, PrivateAttr
from xai_sdk import Client
from xai_sdk.cost import cost_usd_from_usage
from xai_sdk.proto import deferred_pb2, video_pb2
from xai_sdk.types.video import VideoAspectRatioMap, VideoResolutionMap

from ..media.probe import probe
from .downloads import DownloadError, RetryableDownloadError, describe_url, download_to_store
from .generator import ClipOutcome, ClipRequest, GeneratorStopped, ShotFailed, VideoGenerator
from .journal import JournalEntry, journal_key, now_iso, read_entry, write_entry
from .storage import MediaStore
from .xai_api import MAX_IMAGE_BYTES, MAX_MESSAGE_BYTES, MAX_PROMPT_CHARS, PRICE_PER_IMAGE_USD, PRICE_PER_SECOND_USD

T = TypeVar("T")

RETRYABLE = frozenset(
    {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
)
CREDENTIALS = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
MIB = 1 << 20
_BEARER = re.compile(r"(?i)bearer\s+\S+")


class _Gone(Exception):
    """The API no longer knows a journaled request id (NOT_FOUND): submit anew."""


@dataclass
class _Tally:
    """What one ``generate`` call spent: API calls made."""

    api_calls: int = 0


class XaiVideoGenerator(VideoGenerator):
    """Generates clips with xAI (``grok-imagine-video``), journaled, retried, costed; thread-safe."""

    api_key: str = Field(repr=False)
    api_host: str = "api.x.ai"
    use_insecure_channel: bool = False
    max_concurrent: int = 8
    poll_interval_seconds: float = 2.0
    timeout_seconds: float = 900
    rpc_timeout_seconds: float = 60
    max_retries: int = 6
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30
    download_attempts: int = Field(default=4, ge=1)
    max_download_bytes: int = 512 * MIB
    max_image_bytes: int = MAX_IMAGE_BYTES
    max_prompt_chars: int = MAX_PROMPT_CHARS
    price_per_second_usd: dict[str, float] = dict(PRICE_PER_SECOND_USD)
    price_per_image_usd: float = PRICE_PER_IMAGE_USD

    _client: Client | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _stopped: str | None = PrivateAttr(default=None)

    @property
    def kind(self) -> str:
        return "xai"

    @property
    def concurrency(self) -> int:
        return self.max_concurrent

    def estimate_usd(self, request: ClipRequest) -> float:
        images = 1 + (1 if request.last_frame_key or request.last_frame_url else 0)
        return request.duration * self.price_per_second_usd[request.resolution] + self.price_per_image_usd * images

    # -- lifecycle ------------------------------------------------------------------------------------------

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Close the gRPC channel."""
        self.close()

    def close(self) -> None:
        """Close the client's channel (a later call builds a new one)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _get_client(self) -> Client:
        """The one client (and gRPC channel) all threads share, built on first use: an unused resource is free."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = Client(
                        api_key=self.api_key,
                        api_host=self.api_host,
                        use_insecure_channel=self.use_insecure_channel,
                        timeout=self.rpc_timeout_seconds,
                        # our back-off is the one retry layer: every attempt is seen, counted and capped
                        channel_options=[("grpc.enable_retries", 0)],
                    )
                except ValueError as exc:  # only "no key" / "empty key"; the message holds no key
                    raise GeneratorStopped(f"cannot create the xAI client: {exc} (set XAI_API_KEY)") from None
            return self._client

    # -- the shot -------------------------------------------------------------------------------------------

    def generate(self, request: ClipRequest, store: MediaStore, log: logging.Logger) -> ClipOutcome:
        self._check_running()
        self._validate(request)
        started = time.monotonic()
        tally = _Tally()
        model = request.model
        key = journal_key(request.campaign, request.shot)
        entry = read_entry(store, key)
        if entry is not None and entry.cache_key != request.cache_key:
            entry = None  # another version of the shot: its request is not this clip
        resumed = entry is not None
        request_id = entry.request_id if entry else None
        if request_id:
            log.info("%s: resuming journaled xAI request %s instead of submitting again", request.where, request_id)
        expired_resubmits = 0
        while True:
            if request_id is None:
                request_id = self._submit(request, model, tally)
                resumed = False
                log.info(  # before the journal write, so a failed write never hides a paid request
                    "%s: submitted xAI request %s (%s, %d s, %s)",
                    request.where,
                    request_id,
                    model,
                    request.duration,
                    request.resolution,
                )
                entry = JournalEntry(
                    request_id=request_id, cache_key=request.cache_key, submitted_at=now_iso(), model=model
                )
                write_entry(store, key, entry)
            try:
                reply = self._wait(request, request_id, started, tally, resumed=resumed)
            except _Gone:
                log.warning(
                    "%s: journaled request %s is unknown to the API; submitting anew",
                    request.where,
                    request_id,
                )
                request_id = None
                continue
            if reply.status == deferred_pb2.DONE:
                try:
                    outcome = self._deliver(request, store, log, reply.response, request_id, started, tally)
                    break
                except ShotFailed as exc:
                    if not resumed:
                        raise
                    # an old request's result may be gone (its URL lives 24 h): only a new request helps
                    log.warning("%s: the result of journaled request %s cannot be had (%s); submitting anew",
                                request.where, request_id, exc)
                    request_id = None
                    continue
            if resumed:
                log.warning(
                    "%s: journaled request %s came back %s; submitting anew",
                    request.where,
                    request_id,
                    deferred_pb2.DeferredStatus.Name(reply.status),
                )
                request_id = None
                continue
            if reply.status == deferred_pb2.EXPIRED and expired_resubmits == 0:
                log.warning("%s: request %s expired; resubmitting once", request.where, request_id)
                expired_resubmits += 1
                request_id = None
                continue
            raise ShotFailed(self._failure(request, request_id, reply))
        assert entry is not None
        done = {
            "status": "done",
            "clip_key": outcome.clip_key,
            "cost_usd": outcome.cost_usd,
            "finished_at": now_iso(),
        }
        write_entry(store, key, entry.model_copy(update=done))
        return outcome

    def _deliver(
        self,
        request: ClipRequest,
        store: MediaStore,
        log: logging.Logger,
        response: video_pb2.VideoResponse,
        request_id: str,
        started: float,
        tally: _Tally,
    ) -> ClipOutcome:
        """Copy the finished clip into the store, probe it and report the outcome."""
        if not response.video.url:
            why = "it did not pass moderation" if not response.video.respect_moderation else "no URL was returned"
            raise ShotFailed(f"{request.where}: xAI request {request_id} finished but {why}")
        self._download(request, response.video.url, store, log)
        try:
            with store.local_file(request.clip_key) as path:
                info = probe(path)
            if not info.video_codec or info.duration <= 0:
                raise ValueError("no video stream")
        except Exception as exc:
            store.delete(request.clip_key)
            raise ShotFailed(
                f"{request.where}: the clip of xAI request {request_id} is not a playable video: {exc}"
            ) from None
        cost = cost_usd_from_usage(response.usage)
        if cost is None:
            cost = self.estimate_usd(request)
            log.warning("%s: the API reported no cost for %s; using the estimate", request.where, request_id)
        latency = time.monotonic() - started
        log.info(
            "%s: clip from xAI request %s stored at %s in %.1f s ($%.2f, %d API calls)",
            request.where,
            request_id,
            request.clip_key,
            latency,
            cost,
            tally.api_calls,
        )
        return ClipOutcome(
            shot=request.shot,
            status="generated",
            clip_key=request.clip_key,
            request_id=request_id,
            cost_usd=cost,
            video_seconds=info.duration,
            latency_s=latency,
            api_calls=tally.api_calls,
        )

    # -- API calls ------------------------------------------------------------------------------------------

    def _submit(self, request: ClipRequest, model: str, tally: _Tally) -> str:
        client = self._get_client()
        start = self._call(
            request,
            tally,
            "GenerateVideo",
            lambda: client.video.start(
                prompt=request.prompt,
                model=model,
                image_url=request.image_url,
                last_frame_url=request.last_frame_url,
                duration=request.duration,
                resolution=request.resolution,  # type: ignore[arg-type] - validated above
                aspect_ratio=request.aspect_ratio,  # type: ignore[arg-type]
            ),
        )
        return start.request_id

    def _wait(
        self, request: ClipRequest, request_id: str, started: float, tally: _Tally, *, resumed: bool
    ) -> video_pb2.GetDeferredVideoResponse:
        """Poll until the request is no longer PENDING; ``ShotFailed`` past ``timeout_seconds``.

        A journaled (``resumed``) request is polled at once, and ``_Gone`` if the API no longer knows it.
        """
        client = self._get_client()
        deadline = started + self.timeout_seconds
        if not resumed:
            time.sleep(min(self.poll_interval_seconds, max(0.0, deadline - time.monotonic())))
        while True:
            reply = self._call(
                request,
                tally,
                "GetDeferredVideo",
                lambda: client.video.get(request_id),
                not_found_is_gone=resumed,
            )
            if reply.status not in (deferred_pb2.PENDING, deferred_pb2.INVALID_DEFERRED_STATUS):
                return reply
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ShotFailed(
                    f"{request.where}: xAI request {request_id} still pending after "
                    f"{self.timeout_seconds:.0f} s; it stays journaled: the next run resumes it at no cost"
                )
            time.sleep(min(self.poll_interval_seconds, remaining))

    def _call(
        self,
        request: ClipRequest,
        tally: _Tally,
        method: str,
        fn: Callable[[], T],
        *,
        not_found_is_gone: bool = False,
    ) -> T:
        """Make one API call with back-off on the retryable codes; map the rest to our exceptions."""
        attempt = 0
        while True:
            self._check_running()
            tally.api_calls += 1
            try:
                return fn()
            except grpc.RpcError as exc:
                code: grpc.StatusCode | None = exc.code() if isinstance(exc, grpc.Call) else None
                details = self._redact(exc.details() if isinstance(exc, grpc.Call) else "") or "no details"
            name = code.name if code else "UNKNOWN"
            if code in CREDENTIALS:
                raise GeneratorStopped(self._stop(name)) from None
            retryable = code in RETRYABLE and "larger than max" not in details  # too big stays too big
            if retryable and attempt < self.max_retries:
                time.sleep(self._backoff(attempt))
                attempt += 1
                continue
            if code == grpc.StatusCode.NOT_FOUND and not_found_is_gone:
                raise _Gone()
            if retryable:
                raise ShotFailed(
                    f"{request.where}: xAI {method} still {name} after {attempt + 1} attempts: {details}"
                ) from None
            raise ShotFailed(f"{request.where}: xAI {method} failed with {name}: {details}") from None

    def _download(self, request: ClipRequest, url: str, store: MediaStore, log: logging.Logger) -> int:
        """Stream the result into the store, retrying 5xx, dropped and truncated downloads."""
        for attempt in range(self.download_attempts):
            try:
                return download_to_store(url, store, request.clip_key, max_bytes=self.max_download_bytes)
            except RetryableDownloadError as exc:
                if attempt + 1 >= self.download_attempts:
                    raise ShotFailed(
                        f"{request.where}: download failed {self.download_attempts} times: {exc}"
                    ) from None
                log.warning("%s: download attempt %d failed (%s); retrying", request.where, attempt + 1, exc)
                time.sleep(self._backoff(attempt))
            except DownloadError as exc:
                raise ShotFailed(f"{request.where}: cannot download the clip: {exc}") from None
        raise AssertionError("unreachable")

    # -- helpers --------------------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return random.uniform(0.0, min(self.backoff_cap_seconds, self.backoff_base_seconds * 2**attempt))

    def _check_running(self) -> None:
        if self._stopped is not None:
            raise GeneratorStopped(self._stopped)

    def _stop(self, code: str) -> str:
        """Stop every thread: later calls raise ``GeneratorStopped`` without calling the API."""
        with self._lock:
            if self._stopped is None:
                self._stopped = (
                    f"the xAI API refused the credentials ({code}) at {self.api_host}: check that "
                    "XAI_API_KEY is valid and allowed to generate video; no further requests are made"
                )
            return self._stopped

    def _redact(self, text: str) -> str:
        """``text`` with the API key and any bearer token removed (gRPC errors can echo metadata)."""
        if self.api_key:
            text = text.replace(self.api_key, "[redacted]")
        return _BEARER.sub("Bearer [redacted]", text)

    def _failure(self, request: ClipRequest, request_id: str, reply: video_pb2.GetDeferredVideoResponse) -> str:
        """The message for a request that ended FAILED or EXPIRED (after its one resubmission)."""
        if reply.status == deferred_pb2.EXPIRED:
            return f"{request.where}: xAI request {request_id} expired again after one resubmission"
        error = reply.response.error if reply.HasField("response") else None
        code = error.code if error and error.code else "UNKNOWN"
        message = self._redact(error.message) if error and error.message else "no details"
        return f"{request.where}: xAI request {request_id} failed [{code}]: {message}"

    def _validate(self, request: ClipRequest) -> None:
        """Reject what the API would reject, before paying anything: ``ShotFailed`` naming the shot."""
        problems: list[str] = []
        if not 1 <= request.duration <= 15:
            problems.append(f"duration {request.duration} s is outside 1-15 s")
        if request.resolution not in VideoResolutionMap or request.resolution not in self.price_per_second_usd:
            problems.append(f"resolution {request.resolution!r} is not one of {sorted(self.price_per_second_usd)}")
        if request.aspect_ratio not in VideoAspectRatioMap:
            problems.append(f"aspect ratio {request.aspect_ratio!r} is not one of {list(VideoAspectRatioMap)}")
        if len(request.prompt) > self.max_prompt_chars:
            problems.append(f"prompt is {len(request.prompt)} characters, over {self.max_prompt_chars}")
        urls = {"image": request.image_url, "last frame": request.last_frame_url}
        for what, url in urls.items():
            if url is not None:
                problems.extend(self._url_problems(what, url))
        if sum(len(u) for u in urls.values() if u) > MAX_MESSAGE_BYTES - MIB:
            problems.append("the images are too large to send in one request (20 MiB)")
        if problems:
            raise ShotFailed(f"{request.where}: " + "; ".join(problems))

    def _url_problems(self, what: str, url: str) -> list[str]:
        if url.startswith("data:"):
            size = len(url.partition(",")[2]) * 3 // 4
            if size > self.max_image_bytes:
                return [f"{what} is {size // MIB} MiB, over the {self.max_image_bytes // MIB} MiB limit"]
            return []
        if urlsplit(url).scheme not in ("https", "http"):
            return [f"{what} URL {describe_url(url)} is neither a data: nor an http(s) URL"]
        return []
