"""The emulated ``xai_api.Video`` gRPC service, built on the SDK's own protos.

``GenerateVideo`` checks the key, the injected faults, the model, the request rate, the inputs and the capacity
the way the API does, starts a real render and returns a request id — or, with a lost-reply fault, accepts and
bills the request and still answers an error. ``GetDeferredVideo`` answers the request's status from the
``JobBook`` (within the same rate when ``rps_polls``). Every call is counted by method and outcome, a call
refused by the rate also under ``rate_limited``, a request given a fault's fate (moderated, failed, expired,
never) under ``fate``; every accepted request goes into the paid log with the time the rate limiter admitted it.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from xai_sdk.proto import deferred_pb2, video_pb2, video_pb2_grpc

from .config import EmulatorConfig
from .faults import Faults, FaultState
from .intake import Rejected, caller_key, model_spec, read_request
from .jobs import JobBook
from .limits import RateLimiter
from .stats import CallCounter
from .uploads import FileBook, ImageInputs

__all__ = ["EmulatorConfig", "VideoService"]


class VideoService(video_pb2_grpc.VideoServicer):
    """The servicer: the jobs, the faults and the counters."""

    def __init__(
        self, config: EmulatorConfig, jobs: JobBook, image_dir: Path, counter: CallCounter, files: FileBook
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.counter = counter
        self.files = files
        self._image_dir = image_dir
        self._limiter = RateLimiter(config.rps) if config.rps is not None else None
        self.fault_state = FaultState(config.faults)

    def set_faults(self, faults: Faults) -> None:
        """Replace the fault settings; "first N" counters and the RNG start again."""
        self.fault_state = FaultState(faults)

    def GenerateVideo(  # noqa: N802 - gRPC method name
        self, request: video_pb2.GenerateVideoRequest, context: grpc.ServicerContext
    ) -> deferred_pb2.StartDeferredResponse:
        method = "GenerateVideo"
        try:
            key = caller_key(context, self.config.require_key)
            faults = self.fault_state
            self._injected(faults, method)
            at = self._within_rate(key, model_spec(request.model, self.config.catalog).id, method)
            inputs = ImageInputs.of(self.config, self.files, self.counter, self._image_dir, key)
            intake = read_request(request, self.config, inputs)
            job = self.jobs.admit(intake, faults.fate(request.prompt), max_pending=self.config.max_concurrent)
            if job.fate.outcome != "done":
                self.counter.add("fate", job.fate.outcome)
            lost = faults.submit_reply_lost()
            self.jobs.bill(job, key, at=at, reply_lost=lost is not None)
            if lost is not None:
                self.counter.add(method, "LOST_REPLY")
                context.abort(lost, "injected fault: the request was accepted but its reply is lost")
        except Rejected as rejected:
            self.counter.add(method, rejected.code.name)
            context.abort(rejected.code, str(rejected))
        self.counter.add(method, "OK")
        return deferred_pb2.StartDeferredResponse(request_id=job.request_id)

    def GetDeferredVideo(  # noqa: N802 - gRPC method name
        self, request: video_pb2.GetDeferredVideoRequest, context: grpc.ServicerContext
    ) -> video_pb2.GetDeferredVideoResponse:
        method = "GetDeferredVideo"
        try:
            key = caller_key(context, self.config.require_key)
            faults = self.fault_state
            self._injected(faults, method)
            if faults.faults.slow_poll_seconds > 0:
                time.sleep(faults.faults.slow_poll_seconds)
            job = self.jobs.get(request.request_id)
            if job is None:
                raise Rejected(grpc.StatusCode.NOT_FOUND, f"no deferred request {request.request_id!r}")
            if self.config.rps_polls:
                self._within_rate(key, job.model_id, method)
        except Rejected as rejected:
            self.counter.add(method, rejected.code.name)
            context.abort(rejected.code, str(rejected))
        reply = self.jobs.status(job)
        self.counter.add(method, deferred_pb2.DeferredStatus.Name(reply.status))
        return reply

    def _within_rate(self, key: str, model_id: str, method: str) -> float | None:
        """When the limiter admitted this call (None without a limit); RESOURCE_EXHAUSTED above the rate."""
        if self._limiter is None:
            return None
        at = self._limiter.admit(key, model_id)
        if at is None:
            self.counter.add("rate_limited", method)
            raise Rejected(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"rate limit exceeded: {self._limiter.rps:g} requests per second for model {model_id}",
            )
        return at

    @staticmethod
    def _injected(faults: FaultState, method: str) -> None:
        code = faults.call_fails(method)
        if code is not None:
            raise Rejected(code, "injected fault")
