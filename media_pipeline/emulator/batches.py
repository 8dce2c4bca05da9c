"""The emulator's batches: each batch request is a ``Job`` like a sync one, seen through the Batch API's protos.

A ``Batch`` keeps its requests in the order they were added, each with its job (or the error its intake
refused it with). ``state`` counts them, ``result`` answers one as a ``BatchResult`` once it is finished (the
video response with the batch price, or a ``google.rpc.Status`` error), ``metadata`` as a
``BatchRequestMetadata``. Cancelling a batch cancels the requests still pending.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from google.protobuf import timestamp_pb2
from google.rpc import status_pb2
from xai_sdk.proto import batch_pb2, deferred_pb2

from .jobs import Job, JobBook

Meta = batch_pb2.BatchRequestMetadata
VIDEO_ENDPOINT = "video"  # the endpoint name our metadata reports; the real service's name is not known here


def timestamp(at: float) -> timestamp_pb2.Timestamp:
    """A wall-clock time as a protobuf ``Timestamp``."""
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(at * 1e9))
    return ts


@dataclass
class Entry:
    """One batch request: its job, or the gRPC code and message its intake refused it with."""

    batch_request_id: str
    request: batch_pb2.BatchRequest
    created: float
    job: Job | None = None
    error: tuple[int, str] | None = None
    cancelled: bool = False


@dataclass
class Batch:
    """One batch of one API key."""

    batch_id: str
    name: str
    key: str
    created: float
    entries: dict[str, Entry] = field(default_factory=dict)
    cancelled_at: float | None = None

    def state_of(self, entry: Entry, jobs: JobBook) -> int:
        """The entry's ``BatchRequestMetadata.State``."""
        if entry.error is not None:
            return Meta.STATE_FAILED
        if entry.cancelled:
            return Meta.STATE_CANCELLED
        assert entry.job is not None
        status = jobs.status(entry.job).status
        if status == deferred_pb2.PENDING:
            return Meta.STATE_PENDING
        return Meta.STATE_SUCCEEDED if status == deferred_pb2.DONE else Meta.STATE_FAILED

    def proto(self, jobs: JobBook) -> batch_pb2.Batch:
        """The ``Batch`` message: request counts by state, and the cost of the succeeded ones."""
        entries = list(self.entries.values())
        states = [self.state_of(e, jobs) for e in entries]
        ticks = sum(e.job.cost_ticks for e, s in zip(entries, states, strict=True) if s == Meta.STATE_SUCCEEDED)
        batch = batch_pb2.Batch(
            batch_id=self.batch_id,
            name=self.name,
            create_time=timestamp(self.created),
            create_api_key_id=self.key,
            state=batch_pb2.BatchState(
                num_requests=len(states),
                num_pending=states.count(Meta.STATE_PENDING),
                num_success=states.count(Meta.STATE_SUCCEEDED),
                num_error=states.count(Meta.STATE_FAILED),
                num_cancelled=states.count(Meta.STATE_CANCELLED),
            ),
            cost_breakdown=batch_pb2.BatchCostBreakdown(
                total_cost_usd_ticks=ticks, calculation_time=timestamp(time.time())
            ),
        )
        if self.cancelled_at is not None:
            batch.cancel_time.CopyFrom(timestamp(self.cancelled_at))
        return batch

    def result(self, entry: Entry, jobs: JobBook) -> batch_pb2.BatchResult | None:
        """The entry's result once it is finished (succeeded or failed), else None."""
        if entry.error is not None:
            code, message = entry.error
            return batch_pb2.BatchResult(
                batch_request_id=entry.batch_request_id, error=status_pb2.Status(code=code, message=message)
            )
        if entry.cancelled or entry.job is None:
            return None
        reply = jobs.status(entry.job)
        out = batch_pb2.BatchResult(
            batch_request_id=entry.batch_request_id,
            response=batch_pb2.BatchResultData(video_response=reply.response),
        )
        if reply.status == deferred_pb2.PENDING:
            return None
        if reply.status == deferred_pb2.FAILED:
            error = reply.response.error
            out.error.CopyFrom(status_pb2.Status(code=3, message=f"[{error.code}] {error.message}"))  # 3: INVALID_ARG
        elif reply.status == deferred_pb2.EXPIRED:
            out.error.CopyFrom(status_pb2.Status(code=4, message="the request expired"))  # 4: DEADLINE_EXCEEDED
        return out

    def metadata(self, entry: Entry, jobs: JobBook) -> batch_pb2.BatchRequestMetadata:
        """The entry's ``BatchRequestMetadata``."""
        state = self.state_of(entry, jobs)
        meta = Meta(
            batch_request_id=entry.batch_request_id,
            endpoint=VIDEO_ENDPOINT,
            model=entry.request.video_request.model,
            state=state,
            create_time=timestamp(entry.created),
        )
        if state != Meta.STATE_PENDING:
            meta.finish_time.CopyFrom(timestamp(self._finished(entry)))
        return meta

    def _finished(self, entry: Entry) -> float:
        if entry.cancelled and self.cancelled_at is not None:
            return self.cancelled_at
        if entry.job is None:
            return entry.created
        job = entry.job
        return entry.created + max(job.ready_at, job.rendered_at or job.ready_at) - job.started_at

    def cancel(self, jobs: JobBook) -> list[str]:
        """Cancel the requests still pending; the request ids of their jobs (no longer billed)."""
        self.cancelled_at = self.cancelled_at or time.time()
        voided = []
        for entry in list(self.entries.values()):
            if entry.job is not None and not entry.cancelled and self.state_of(entry, jobs) == Meta.STATE_PENDING:
                entry.cancelled = True
                voided.append(entry.job.request_id)
        return voided
