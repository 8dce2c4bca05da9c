"""Batch mode's calls to xAI: a campaign's clips as one xAI batch through the SDK's ``client.batch``.

``XaiBatches.submit`` creates a batch (free), journals it with every request about to be added and opens a ledger
attempt per request at the catalog's batch price, then adds the ``client.video.prepare`` requests and journals
them ``pending`` (``batch_journal.py``); so a kill at any point leaves a journal that ``resume`` reconciles with
the batch's own request list, and nothing is paid twice. ``collect`` (``batch_results.py``) copies every finished
clip into the store at once (a batch result URL lives one hour), recording the cost the API reported.
Every call goes through the sync generator's ``call`` (its back-off, error mapping and key redaction), and the
per-clip request journal and spend ledger are the sync path's own, so estimates and budgets see batch requests.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from xai_sdk.proto import batch_pb2

from ..generator import ClipRequest, ClipSpec, ShotFailed
from ..store import MediaStore
from . import ledger
from .batch_journal import BatchedClip, BatchEntry, write_batch
from .batch_results import BatchResults
from .calls import Tally, sdk_arguments
from .catalog import MAX_MESSAGE_BYTES, ModelCatalog, catalog_from_env
from .generator import XaiVideoGenerator
from .journal import JournalEntry, journal_key, now_iso, read_entry, write_entry

T = TypeVar("T")
PAGE = 100


def batch_price_usd(request: ClipSpec, catalog: ModelCatalog | None = None) -> float:
    """What ``request`` costs as a batch request: the catalog's price for its model times the batch factor."""
    spec = (catalog or catalog_from_env(os.environ)).get(request.model)  # parsed once per process
    return spec.price_usd(
        duration=request.duration, resolution=request.resolution, input_images=request.input_images, batch=True
    )


def _chunks(requests: list[batch_pb2.BatchRequest]) -> Iterator[list[batch_pb2.BatchRequest]]:
    """The requests in groups that fit one gRPC message (images travel inside them as data: URLs locally)."""
    group: list[batch_pb2.BatchRequest] = []
    size = 0
    for request in requests:
        grows = request.ByteSize()
        if group and size + grows > MAX_MESSAGE_BYTES - (1 << 20):
            yield group
            group, size = [], 0
        group.append(request)
        size += grows
    if group:
        yield group


class XaiBatches:
    """One campaign's batches through one generator's client; ``tally`` counts this run's API calls."""

    def __init__(
        self,
        generator: XaiVideoGenerator,
        store: MediaStore,
        campaign: str,
        log: logging.Logger,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.g, self.store, self.campaign, self.log = generator, store, campaign, log
        self.catalog = generator.catalog() if environ is None else catalog_from_env(environ)
        self.tally = Tally()
        self.where = f"campaign {campaign!r}"
        self.add_error: str | None = None  # why the last ``submit`` could not add every request
        self.results = BatchResults(self)

    def call(self, method: str, fn: Callable[[], T]) -> T:
        return self.g.call(self.where, self.tally, method, fn)

    # -- submitting -----------------------------------------------------------------------------------------

    def submit(self, requests: list[ClipRequest]) -> BatchEntry:
        """One new batch carrying ``requests`` (URLs filled in), journaled before and after the add."""
        client = self.g.client()
        model = requests[0].model
        self.add_error = None
        files = {  # hosting: xai_files: every image uploaded (or known) before the batch exists
            r.cache_key: self.g.file_ids(r, self.store, self.tally, self.log)
            for r in requests
            if r.hosting == "xai_files"
        }
        batch = self.call("CreateBatch", lambda: client.batch.create(f"{self.campaign} {now_iso()}"))
        entry = BatchEntry(batch_id=batch.batch_id, campaign=self.campaign, model=model, created_at=now_iso())
        prepared = []
        for request in requests:
            estimate = batch_price_usd(request, self.catalog)
            clip = BatchedClip(
                batch_request_id=f"{batch.batch_id}.{request.cache_key}", shot=request.shot,
                cache_key=request.cache_key, estimate_usd=estimate,
                attempt_key=ledger.open_attempt(self.store, self.campaign, request.shot, request.cache_key, estimate),
            )  # fmt: skip
            entry.requests[clip.batch_request_id] = clip
            arguments = sdk_arguments(request, files.get(request.cache_key))
            prepared.append(client.video.prepare(batch_request_id=clip.batch_request_id, **arguments))
        write_batch(self.store, entry)  # before the add: a kill from here on is reconciled by ``resume``
        try:
            for group in _chunks(prepared):
                self.call("AddBatchRequests", lambda group=group: client.batch.add(batch.batch_id, group))
        except ShotFailed as exc:  # an add whose reply was lost may still have landed: ask the batch
            self.add_error = str(exc).removeprefix(f"{self.where}: ")
            self.log.warning("%s: adding to batch %s failed (%s); asking it", self.where, batch.batch_id, exc)
        entry = self.resume(entry)
        self.log.info(
            "%s: xAI batch %s carries %d clip(s) (%s)", self.where, entry.batch_id, len(entry.requests), model
        )
        return entry

    def resume(self, entry: BatchEntry) -> BatchEntry:
        """An ``adding`` batch made whole: requests the batch holds are ``pending`` (ledger confirmed, clip journal
        ``submitted``); the others are dropped from it (their ledger attempt discarded) to be submitted anew."""
        if entry.status != "adding":
            return entry
        client = self.g.client()
        held: set[str] = set()
        token: str | None = None
        while True:
            page = self.call(
                "ListBatchRequestMetadata",
                lambda token=token: client.batch.list_batch_requests(entry.batch_id, PAGE, token),
            )
            held.update(m.batch_request_id for m in page.batch_request_metadata)
            token = page.pagination_token or None
            if token is None:
                break
        for request_id, clip in list(entry.requests.items()):
            if request_id not in held:
                if clip.attempt_key:
                    ledger.discard(self.store, clip.attempt_key)
                del entry.requests[request_id]
                continue
            if clip.attempt_key:
                ledger.confirm(
                    self.store, clip.attempt_key, self.campaign, clip.shot, clip.cache_key, clip.ledger_id,
                    clip.estimate_usd,
                )  # fmt: skip
            entry.requests[request_id] = clip.model_copy(update={"status": "pending", "attempt_key": None})
            self.journal(entry.model, clip, status="submitted", request_id=request_id)
        entry.status = "open" if entry.requests else "closed"
        write_batch(self.store, entry)
        return entry

    # -- results --------------------------------------------------------------------------------------------

    def collect(self, entry: BatchEntry) -> list[BatchedClip]:
        """Take every finished result of ``entry`` not taken yet (``batch_results``); returns what changed."""
        return self.results.collect(entry)

    def state(self, batch_id: str) -> batch_pb2.Batch:
        """The batch as the API sees it (counts by state, cost so far)."""
        return self.call("GetBatch", lambda: self.g.client().batch.get(batch_id))

    # -- the shared journal and ledger ----------------------------------------------------------------------

    def bill(self, clip: BatchedClip, cost: float) -> None:
        ledger.record(self.store, self.campaign, clip.shot, clip.cache_key, clip.ledger_id, cost, final=True)

    def journal(self, model: str, clip: BatchedClip, *, status: str, **fields: object) -> None:
        """The clip's entry in the sync path's request journal, so estimates know it is paid for."""
        key = journal_key(self.campaign, clip.cache_key)
        entry = read_entry(self.store, key)
        if entry is None or entry.request_id != clip.batch_request_id:
            entry = JournalEntry(
                cache_key=clip.cache_key, campaign=self.campaign, shot=clip.shot, model=model, submitted_at=now_iso(),
                request_id=clip.batch_request_id,
            )  # fmt: skip
        write_entry(self.store, key, entry.model_copy(update={"status": status, **fields}))
