"""The emulated ``xai_api.BatchMgmt`` gRPC service, so ``client.batch`` of the real SDK works against the emulator.

Batches belong to the API key that created them. ``AddBatchRequests`` takes video requests (``client.video
.prepare``): each is checked, priced at the catalog's batch price, rendered and billed like a sync request, but
neither rate nor capacity limited, with its own latency (``batch_latency_seconds``) and a result URL that lives
``batch_url_ttl_seconds``; a request the API would refuse becomes a failed result; its images may be the caller's
xAI files. Results are listed in the order they finished, paged by an offset token. Every call is counted by method
and outcome.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import empty_pb2
from xai_sdk.proto import batch_pb2, batch_pb2_grpc

from .batches import Batch, Entry
from .config import EmulatorConfig
from .faults import FaultState
from .intake import Rejected, caller_key, read_request
from .jobs import JobBook
from .stats import CallCounter
from .uploads import FileBook, ImageInputs

T = TypeVar("T")
DEFAULT_PAGE = 100


class BatchService(batch_pb2_grpc.BatchMgmtServicer):
    """The servicer: every batch, by id."""

    def __init__(
        self,
        config: EmulatorConfig,
        jobs: JobBook,
        image_dir: Path,
        counter: CallCounter,
        faults: Callable[[], FaultState],
        files: FileBook,
    ) -> None:
        self.config = config
        self.jobs = jobs
        self.counter = counter
        self.files = files
        self._image_dir = image_dir
        self._faults = faults
        self._batches: dict[str, Batch] = {}
        self._lock = threading.Lock()

    def CreateBatch(self, request: batch_pb2.CreateBatchRequest, context: grpc.ServicerContext) -> batch_pb2.Batch:  # noqa: N802
        def create(key: str) -> batch_pb2.Batch:
            if request.input_file_id:  # the caller's file, but its JSONL request format is not in the SDK's protos
                self.files.get(key, request.input_file_id)
                raise Rejected(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "input_file_id: batches from an uploaded JSONL file are not emulated; add requests with "
                    "AddBatchRequests (their video requests may name xAI files)",
                )
            batch = Batch(f"batch_{uuid.uuid4().hex}", request.name, key, time.time())
            with self._lock:
                self._batches[batch.batch_id] = batch
            return batch.proto(self.jobs)

        return self._serve("CreateBatch", context, create)

    def AddBatchRequests(  # noqa: N802
        self, request: batch_pb2.AddBatchRequestsRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        def add(key: str) -> empty_pb2.Empty:
            with self._lock:  # the uniqueness check and the inserts are one step
                return add_to(self._batch(request.batch_id, key), key)

        def add_to(batch: Batch, key: str) -> empty_pb2.Empty:
            if batch.cancelled_at is not None:
                raise Rejected(grpc.StatusCode.FAILED_PRECONDITION, f"batch {batch.batch_id} is cancelled")
            ids = [r.batch_request_id or f"req_{uuid.uuid4().hex}" for r in request.batch_requests]
            taken = [i for n, i in enumerate(ids) if i in batch.entries or i in ids[:n]]
            if taken:
                raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"batch_request_id {taken[0]!r} is not unique")
            if any(not r.HasField("video_request") for r in request.batch_requests):
                raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "the emulator's batches take video requests only")
            for request_id, item in zip(ids, request.batch_requests, strict=True):
                batch.entries[request_id] = self._entry(batch, key, request_id, item)
            return empty_pb2.Empty()

        return self._serve("AddBatchRequests", context, add)

    def GetBatch(self, request: batch_pb2.GetBatchRequest, context: grpc.ServicerContext) -> batch_pb2.Batch:  # noqa: N802
        return self._serve("GetBatch", context, lambda key: self._batch(request.batch_id, key).proto(self.jobs))

    def CancelBatch(self, request: batch_pb2.CancelBatchRequest, context: grpc.ServicerContext) -> batch_pb2.Batch:  # noqa: N802
        def cancel(key: str) -> batch_pb2.Batch:
            with self._lock:
                batch = self._batch(request.batch_id, key)
                self.jobs.paid.void(batch.cancel(self.jobs))
            return batch.proto(self.jobs)

        return self._serve("CancelBatch", context, cancel)

    def ListBatches(  # noqa: N802
        self, request: batch_pb2.ListBatchesRequest, context: grpc.ServicerContext
    ) -> batch_pb2.ListBatchesResponse:
        def list_batches(key: str) -> batch_pb2.ListBatchesResponse:
            with self._lock:
                mine = [b for b in self._batches.values() if b.key == key]
            page, token = _page(mine, request.limit, request.pagination_token)
            return batch_pb2.ListBatchesResponse(batches=[b.proto(self.jobs) for b in page], pagination_token=token)

        return self._serve("ListBatches", context, list_batches)

    def ListBatchRequestMetadata(  # noqa: N802
        self, request: batch_pb2.ListBatchRequestMetadataRequest, context: grpc.ServicerContext
    ) -> batch_pb2.ListBatchRequestMetadataResponse:
        def list_metadata(key: str) -> batch_pb2.ListBatchRequestMetadataResponse:
            batch = self._batch(request.batch_id, key)
            metas = [batch.metadata(e, self.jobs) for e in list(batch.entries.values())]
            wanted = set(request.status)
            page, token = _page(
                [m for m in metas if not wanted or m.state in wanted], request.limit, request.pagination_token
            )
            return batch_pb2.ListBatchRequestMetadataResponse(batch_request_metadata=page, pagination_token=token)

        return self._serve("ListBatchRequestMetadata", context, list_metadata)

    def ListBatchResults(  # noqa: N802
        self, request: batch_pb2.ListBatchResultsRequest, context: grpc.ServicerContext
    ) -> batch_pb2.ListBatchResultsResponse:
        def list_results(key: str) -> batch_pb2.ListBatchResultsResponse:
            batch = self._batch(request.batch_id, key)
            finished = []
            for n, entry in enumerate(list(batch.entries.values())):
                result = batch.result(entry, self.jobs)
                if result is not None:
                    finished.append((batch.metadata(entry, self.jobs).finish_time.ToNanoseconds(), n, result))
            results = [result for *_, result in sorted(finished, key=lambda f: f[:2])]
            page, token = _page(results, request.limit, request.pagination_token)
            return batch_pb2.ListBatchResultsResponse(results=page, pagination_token=token)

        return self._serve("ListBatchResults", context, list_results)

    def GetBatchRequestResult(  # noqa: N802
        self, request: batch_pb2.GetBatchRequestResultRequest, context: grpc.ServicerContext
    ) -> batch_pb2.GetBatchRequestResultResponse:
        def get_result(key: str) -> batch_pb2.GetBatchRequestResultResponse:
            batch = self._batch(request.batch_id, key)
            entry = batch.entries.get(request.batch_request_id)
            if entry is None:
                raise Rejected(grpc.StatusCode.NOT_FOUND, f"no batch request {request.batch_request_id!r}")
            reply = batch_pb2.GetBatchRequestResultResponse(request=entry.request)
            result = batch.result(entry, self.jobs)
            if result is not None:
                reply.result.CopyFrom(result)
            return reply

        return self._serve("GetBatchRequestResult", context, get_result)

    # -- helpers --------------------------------------------------------------------------------------------

    def _serve(self, method: str, context: grpc.ServicerContext, handler: Callable[[str], T]) -> T:
        try:
            reply = handler(caller_key(context, self.config.require_key))
        except Rejected as rejected:
            self.counter.add(method, rejected.code.name)
            context.abort(rejected.code, str(rejected))
        self.counter.add(method, "OK")
        return reply

    def _batch(self, batch_id: str, key: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None or batch.key != key:
            raise Rejected(grpc.StatusCode.NOT_FOUND, f"no batch {batch_id!r}")
        return batch

    def _entry(self, batch: Batch, key: str, request_id: str, item: batch_pb2.BatchRequest) -> Entry:
        entry = Entry(request_id, item, time.time())
        try:
            inputs = ImageInputs.of(self.config, self.files, self.counter, self._image_dir, key)
            intake = read_request(item.video_request, self.config, inputs, batch=True)
        except Rejected as refused:
            entry.error = (refused.code.value[0], str(refused))
            return entry
        entry.job = self.jobs.admit(intake, self._faults().fate(item.video_request.prompt), batch=True)
        self.jobs.bill(entry.job, key, batch_id=batch.batch_id)
        return entry


def _page(items: Sequence[T], limit: int, token: str) -> tuple[list[T], str]:
    """One page of ``items`` from the offset in ``token``, and the next page's token ("" after the last)."""
    start = int(token) if token.isdigit() else 0
    end = start + (limit if limit > 0 else DEFAULT_PAGE)
    return list(items[start:end]), str(end) if end < len(items) else ""
