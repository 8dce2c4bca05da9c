"""The emulator's requests: each accepted ``Intake`` becomes a ``Job`` with a render, a latency and a fate.

``JobBook`` admits jobs (the capacity check and the insert are one step), bills them into the ``PaidLog``,
answers their status as the API does (PENDING with progress, DONE with a result URL and the cost in usd ticks,
FAILED, EXPIRED) and tells the file server what a download of a result gets (the clip, gone for good, or an
expired URL). A job's latency is fixed + per second of video, +/- a seeded jitter; its URL lives ``url_ttl``
seconds from when the clip is ready. A job's fate is settled when it is admitted (past the capacity check): which
identical request it is, and so how its take looks (``faults.FaultState.take``). Shared by the sync ``Video``
service and the batch service.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc
from xai_sdk.cost import USD_PER_TICK
from xai_sdk.proto import deferred_pb2, usage_pb2, video_pb2

from .config import EmulatorConfig
from .faults import RequestFate
from .intake import Intake, Rejected
from .renders import RenderPool
from .stats import Paid, PaidLog


@dataclass
class Job:
    """One accepted request."""

    request_id: str
    model: str  # as requested
    model_id: str  # the catalog's id
    duration: int
    started_at: float
    ready_at: float
    cost_ticks: int
    fate: RequestFate
    url_ttl: float
    batch: bool = False
    render: Future[Path] | None = None
    rendered_at: float | None = None
    inputs: tuple[bool, int, int] = (True, 0, 0)  # what the request asked: audio, keyframes, reference images

    def pending(self, now: float) -> bool:
        """Still being "generated": latency not over, its clip not rendered yet, or never to finish."""
        if self.fate.outcome == "never":
            return True
        return now < self.ready_at or (self.render is not None and not self.render.done())

    def url_lapsed(self, now: float) -> bool:
        """True when the result URL's lifetime, counted from when the clip was ready, is over."""
        ready = max(self.ready_at, self.rendered_at or self.ready_at)
        return now > ready + self.url_ttl


@dataclass(frozen=True)
class Download:
    """What a GET of a job's result URL gets."""

    state: Literal["ok", "missing", "gone", "expired"]
    clip: Path | None = None
    not_video: bool = False


class JobBook:
    """Every job of one emulator, by request id; thread-safe."""

    def __init__(
        self, config: EmulatorConfig, renders: RenderPool, paid: PaidLog, http_base: Callable[[], str]
    ) -> None:
        self.config = config
        self.paid = paid
        self._renders = renders
        self._http_base = http_base
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._latency_rng = random.Random(config.seed)

    def get(self, request_id: str) -> Job | None:
        """The job of ``request_id``, or None."""
        return self._jobs.get(request_id)

    def admit(self, intake: Intake, fate: RequestFate, *, max_pending: int | None = None, batch: bool = False) -> Job:
        """Start a job with ``fate`` (``RequestFate.admitted`` settles it here); RESOURCE_EXHAUSTED when
        ``max_pending`` sync jobs are already PENDING."""
        config = self.config
        render = None
        with self._lock:
            now = time.monotonic()
            pending = sum(1 for j in self._jobs.values() if not j.batch and j.pending(now))
            if max_pending is not None and pending >= max_pending:
                raise Rejected(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"too many concurrent video requests (limit {max_pending})",
                )
            fate = fate.admitted(request_inputs(intake))
            if fate.outcome == "done":
                render = self._renders.submit(
                    intake.image,
                    prompt=intake.prompt,
                    duration=intake.duration,
                    resolution=intake.resolution,
                    aspect_ratio=intake.aspect_ratio,
                    end_image=intake.end_image,
                    audio=intake.audio,
                    look=fate.look,
                    variant=fate.variant,
                )
            latency = config.latency_seconds
            if batch and config.batch_latency_seconds is not None:
                latency = config.batch_latency_seconds
            latency += config.latency_per_second * intake.duration
            jitter = config.latency_jitter_seconds
            latency = max(0.0, latency + (self._latency_rng.uniform(-jitter, jitter) if jitter else 0.0))
            job = Job(
                request_id=str(uuid.uuid4()),
                model=intake.model,
                model_id=intake.model_id,
                duration=intake.duration,
                started_at=now,
                ready_at=now + latency,
                cost_ticks=intake.cost_ticks,
                fate=fate,
                url_ttl=config.batch_url_ttl_seconds if batch else config.url_ttl_seconds,
                batch=batch,
                render=render,
                inputs=(intake.audio, intake.keyframes, intake.reference_images),
            )
            self._jobs[job.request_id] = job
        if render is not None:
            render.add_done_callback(lambda _f: setattr(job, "rendered_at", time.monotonic()))
        return job

    def bill(
        self, job: Job, key: str, *, at: float | None = None, reply_lost: bool = False, batch_id: str = ""
    ) -> None:
        """Record the accepted job in the paid log (``at``: when it was admitted, default now): billed unless it
        is moderated, FAILED, expires or never finishes."""
        usd = round(job.cost_ticks * USD_PER_TICK, 10) if job.fate.outcome == "done" else 0.0
        when = time.time() if at is None else at
        audio, keyframes, references = job.inputs
        self.paid.add(
            Paid(
                when,
                job.model_id,
                key,
                job.request_id,
                usd,
                reply_lost,
                batch_id,
                audio,
                keyframes,
                references,
                look=job.fate.look,
                repeat=job.fate.repeat,
            )
        )

    def status(self, job: Job) -> video_pb2.GetDeferredVideoResponse:
        """The job's status the way ``GetDeferredVideo`` answers it."""
        now = time.monotonic()
        if job.pending(now):
            span = max(job.ready_at - job.started_at, 1e-9)
            progress = min(99, int(100 * (now - job.started_at) / span))
            return video_pb2.GetDeferredVideoResponse(
                status=deferred_pb2.PENDING,
                response=video_pb2.VideoResponse(model=job.model, progress=progress),
            )
        if job.fate.outcome == "expired":
            return video_pb2.GetDeferredVideoResponse(status=deferred_pb2.EXPIRED)
        if job.fate.outcome == "moderated":
            return _failed(job, "content_moderation", "the request was rejected by content moderation", False)
        if job.fate.outcome == "failed":
            return _failed(job, "internal_error", "video generation failed: internal error (injected fault)", True)
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

    def download(self, request_id: str) -> Download:
        """What a GET of ``request_id``'s result URL gets."""
        job = self._jobs.get(request_id)
        if job is None or job.fate.outcome != "done" or job.pending(time.monotonic()) or job.render is None:
            return Download("missing")
        if job.render.exception() is not None:
            return Download("missing")
        if job.fate.gone:
            return Download("gone")
        if job.url_lapsed(time.monotonic()):
            return Download("expired")
        return Download("ok", job.render.result(), job.fate.not_video)


def request_inputs(intake: Intake) -> str:
    """What makes two requests identical takes of one shot: image, last frame, prompt, duration, resolution,
    aspect ratio and audio (images are stored under their content hash), whatever the model."""
    end = intake.end_image.name if intake.end_image else None
    inputs = [intake.image.name, end, intake.prompt, intake.duration, intake.resolution, intake.aspect_ratio]
    return hashlib.sha256(json.dumps([*inputs, intake.audio]).encode()).hexdigest()[:32]


def _failed(job: Job, code: str, message: str, respect_moderation: bool) -> video_pb2.GetDeferredVideoResponse:
    return video_pb2.GetDeferredVideoResponse(
        status=deferred_pb2.FAILED,
        response=video_pb2.VideoResponse(
            model=job.model,
            error=video_pb2.VideoError(code=code, message=message),
            video=video_pb2.GeneratedVideo(respect_moderation=respect_moderation),
        ),
    )
