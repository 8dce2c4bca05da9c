"""The emulated ``xai_api.Video`` gRPC service, built on the SDK's own protos.

``GenerateVideo`` checks the key, the injected faults, the inputs and the capacity the way the API does, starts
a real render and returns a request id — or, with a lost-reply fault, accepts and bills the request and still
answers an error. ``GetDeferredVideo`` answers the request's status from the ``JobBook``. Every call is counted
by method and outcome; every accepted request goes into the paid log.
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from xai_sdk.proto import deferred_pb2, video_pb2, video_pb2_grpc

from .config import EmulatorConfig
from .faults import Faults, FaultState
from .intake import Rejected, caller_key, read_request
from .jobs import JobBook
from .stats import CallCounter

__all__ = ["EmulatorConfig", "VideoService"]


class VideoService(video_pb2_grpc.VideoServicer):
    """The servicer: the jobs, the faults and the counters."""

    def __init__(self, config: EmulatorConfig, jobs: JobBook, image_dir: Path, counter: CallCounter) -> None:
        self.config = config
        self.jobs = jobs
        self.counter = counter
        self._image_dir = image_dir
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
            intake = read_request(request, self.config, self._image_dir)
            job = self.jobs.admit(intake, faults.fate(request.prompt), max_pending=self.config.max_concurrent)
            lost = faults.submit_reply_lost()
            self.jobs.bill(job, key, reply_lost=lost is not None)
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
            caller_key(context, self.config.require_key)
            faults = self.fault_state
            self._injected(faults, method)
            if faults.faults.slow_poll_seconds > 0:
                time.sleep(faults.faults.slow_poll_seconds)
            job = self.jobs.get(request.request_id)
            if job is None:
                raise Rejected(grpc.StatusCode.NOT_FOUND, f"no deferred request {request.request_id!r}")
        except Rejected as rejected:
            self.counter.add(method, rejected.code.name)
            context.abort(rejected.code, str(rejected))
        reply = self.jobs.status(job)
        self.counter.add(method, deferred_pb2.DeferredStatus.Name(reply.status))
        return reply

    @staticmethod
    def _injected(faults: FaultState, method: str) -> None:
        code = faults.call_fails(method)
        if code is not None:
            raise Rejected(code, "injected fault")
