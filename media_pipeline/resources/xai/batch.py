"""Batch mode's calls to xAI: a campaign's clips as one xAI batch through the SDK's ``client.batch``.

``XaiBatches.submit`` creates a batch (free), journals it with every request about to be added and opens a ledger
attempt per request at the catalog's batch price, then adds the ``client.video.prepare`` requests and journals
them ``pending`` (``batch_journal.py``); so a kill at any point leaves a journal that ``resume`` reconciles with
the batch's own request list, and nothing is paid twice. ``collect`` lists the batch's results and copies every
finished clip into the store at once (a batch result URL lives one hour), recording the cost the API reported;
a URL that lapsed first (403 / 404 / 410) or a request that expired marks the clip ``lapsed`` for a new batch.
Every call goes through the sync generator's ``call`` (its back-off, error mapping and key redaction), and the
per-clip request journal and spend ledger are the sync path's own, so estimates and budgets see batch requests.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import TypeVar

from xai_sdk.batch import BatchResult
from xai_sdk.proto import batch_pb2

from ...media.probe import probe
from ..generator import ClipRequest, ShotFailed
from ..http import DownloadError, GoneDownloadError, RetryableDownloadError, download_to_store
from ..store import MediaStore
from . import ledger
from .batch_journal import BatchedClip, BatchEntry, write_batch
from .catalog import BATCH_RESULT_URL_SECONDS, MAX_MESSAGE_BYTES, ModelCatalog, catalog_from_env
from .generator import XaiVideoGenerator
from .journal import JournalEntry, journal_key, now_iso, read_entry, write_entry
from .shot import Tally

T = TypeVar("T")
STATE_CHECK_SECONDS = 60.0  # how often a batch that reports nothing new is asked whether it is finished
PAGE = 100
DEADLINE_EXCEEDED = 4  # google.rpc code of a batch request that expired before it ran
LAPSED_HTTP = ("HTTP 403",)  # a lapsed signed URL answers 403; 404 / 410 are GoneDownloadError
URL_LIFE = timedelta(seconds=BATCH_RESULT_URL_SECONDS)


def batch_price_usd(request: ClipRequest, catalog: ModelCatalog | None = None) -> float:
    """What ``request`` costs as a batch request: the catalog's price for its model times the batch factor."""
    spec = (catalog or catalog_from_env(os.environ)).get(request.model)
    images = 1 + (1 if request.last_frame_key or request.last_frame_url else 0)
    return spec.price_usd(duration=request.duration, resolution=request.resolution, input_images=images, batch=True)


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
        self.catalog = catalog_from_env(os.environ if environ is None else environ)
        self.tally = Tally()
        self.where = f"campaign {campaign!r}"
        self.add_error: str | None = None  # why the last ``submit`` could not add every request
        self.state_check_seconds = STATE_CHECK_SECONDS
        self._state_checked: dict[str, float] = {}

    def _call(self, method: str, fn: Callable[[], T]) -> T:
        return self.g.call(self.where, self.tally, method, fn)

    # -- submitting -----------------------------------------------------------------------------------------

    def submit(self, requests: list[ClipRequest]) -> BatchEntry:
        """One new batch carrying ``requests`` (URLs filled in), journaled before and after the add."""
        client = self.g.client()
        model = requests[0].model
        self.add_error = None
        batch = self._call("CreateBatch", lambda: client.batch.create(f"{self.campaign} {now_iso()}"))
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
            prepared.append(
                client.video.prepare(
                    prompt=request.prompt,
                    model=request.model,
                    batch_request_id=clip.batch_request_id,
                    image_url=request.image_url,
                    last_frame_url=request.last_frame_url,
                    duration=request.duration,
                    resolution=request.resolution,  # type: ignore[arg-type] - validated before
                    aspect_ratio=request.aspect_ratio,  # type: ignore[arg-type]
                )
            )
        write_batch(self.store, entry)  # before the add: a kill from here on is reconciled by ``resume``
        try:
            for group in _chunks(prepared):
                self._call("AddBatchRequests", lambda group=group: client.batch.add(batch.batch_id, group))
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
            page = self._call(
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
            self._journal(entry.model, clip, status="submitted", request_id=request_id)
        entry.status = "open" if entry.requests else "closed"
        write_batch(self.store, entry)
        return entry

    # -- results --------------------------------------------------------------------------------------------

    def collect(self, entry: BatchEntry) -> list[BatchedClip]:
        """Take every finished result of ``entry`` not taken yet: clips into the store; returns what changed."""
        pending = {c.batch_request_id: c for c in entry.pending()}
        if not pending:
            return []
        client = self.g.client()
        changed = []
        token: str | None = None
        while True:
            page = self._call(
                "ListBatchResults",
                lambda token=token: client.batch.list_batch_results(entry.batch_id, PAGE, token),
            )
            for result in page.results:
                clip = pending.pop(result.batch_request_id, None)
                if clip is not None:
                    taken = self._take(entry.model, clip, result)
                    entry.requests[clip.batch_request_id] = taken
                    if taken.status != "pending":
                        changed.append(taken)
            token = page.pagination_token
            if not token or not pending:
                break
        if pending and not changed and self._state_due(entry.batch_id):
            if self.state(entry.batch_id).state.num_pending == 0:
                changed += self._unreported(entry, list(pending.values()))
        if not entry.pending():
            entry.status = "closed"
        write_batch(self.store, entry)
        return changed

    def _state_due(self, batch_id: str) -> bool:
        """True at most every ``state_check_seconds`` per batch: time to ask whether a silent batch is finished."""
        now = time.monotonic()
        if now - self._state_checked.get(batch_id, -self.state_check_seconds) < self.state_check_seconds:
            return False
        self._state_checked[batch_id] = now
        return True

    def _unreported(self, entry: BatchEntry, clips: list[BatchedClip]) -> list[BatchedClip]:
        """Requests of a batch with nothing pending that have no result: cancelled (in the console, or by xAI at
        the end of its window). Not billed; each fails its shot, and a re-run sends it again."""
        failed = []
        for clip in clips:
            error = f"xAI batch request {clip.batch_request_id} was cancelled before it ran"
            self._bill(clip, 0.0)
            self._journal(entry.model, clip, status="failed", error=error)
            entry.requests[clip.batch_request_id] = clip.model_copy(
                update={"status": "failed", "error": error, "cost_usd": 0.0}
            )
            failed.append(entry.requests[clip.batch_request_id])
        return failed

    def _take(self, model: str, clip: BatchedClip, result: BatchResult) -> BatchedClip:
        where = f"{self.where}, shot {clip.shot!r}"
        if result.has_error:
            expired = result.proto.error.code == DEADLINE_EXCEEDED
            error = f"xAI batch request {clip.batch_request_id} failed: {result.error_message}"
            self._bill(clip, 0.0)
            self._journal(model, clip, status="failed", error=error)
            return clip.model_copy(update={"status": "lapsed" if expired else "failed", "error": error, "cost_usd": 0})
        video = result.video_response
        cost = video.cost_usd if video.cost_usd is not None else clip.estimate_usd
        if clip.cost_usd is None:
            self._bill(clip, cost)
        if not video.url or not video.respect_moderation:
            error = f"xAI batch request {clip.batch_request_id} finished without a clip (moderation or no URL)"
            self._journal(model, clip, status="failed", error=error)
            return clip.model_copy(update={"status": "failed", "error": error, "cost_usd": cost})
        clip = clip.model_copy(update={"cost_usd": cost, "result_url": video.url})
        self._journal(model, clip, status="ready", result_url=video.url, url_expires_at=now_iso(URL_LIFE))
        return self._download(model, clip, where)

    def _download(self, model: str, clip: BatchedClip, where: str) -> BatchedClip:
        """The result copied into the store and probed: ``done``; ``lapsed`` when its URL is over; ``pending``
        (the paid result kept, retried by the next collect) after repeated 5xx or truncated downloads."""
        clip_key = f"clips/{clip.cache_key}.mp4"
        for attempt in range(self.g.download_attempts):
            try:
                download_to_store(clip.result_url or "", self.store, clip_key, max_bytes=self.g.max_download_bytes)
                with self.store.local_file(clip_key) as path:
                    info = probe(path, where)
                if not info.video_codec or info.duration <= 0:
                    raise DownloadError("no video stream")
                self._journal(model, clip, status="done", clip_key=clip_key, finished_at=now_iso())
                return clip.model_copy(update={"status": "done", "error": None})
            except RetryableDownloadError as exc:
                self.log.warning("%s: download attempt %d failed (%s)", where, attempt + 1, exc)
                time.sleep(self.g.backoff(attempt))
            except DownloadError as exc:
                self.store.delete(clip_key)
                if isinstance(exc, GoneDownloadError) or str(exc).endswith(LAPSED_HTTP):
                    error = f"the result URL of batch request {clip.batch_request_id} lapsed before download ({exc})"
                    self.log.warning("%s: %s; it goes out again in a new batch", where, error)
                    self._journal(model, clip, status="failed", error=error)
                    return clip.model_copy(update={"status": "lapsed", "error": error})
                error = f"the clip of xAI batch request {clip.batch_request_id} is not usable: {exc}"
                self._journal(model, clip, status="failed", error=error)
                return clip.model_copy(update={"status": "failed", "error": error})
        return clip.model_copy(update={"status": "pending", "error": "download kept failing; retried next time"})

    def state(self, batch_id: str) -> batch_pb2.Batch:
        """The batch as the API sees it (counts by state, cost so far)."""
        return self._call("GetBatch", lambda: self.g.client().batch.get(batch_id))

    # -- the shared journal and ledger ----------------------------------------------------------------------

    def _bill(self, clip: BatchedClip, cost: float) -> None:
        ledger.record(self.store, self.campaign, clip.shot, clip.cache_key, clip.ledger_id, cost, final=True)

    def _journal(self, model: str, clip: BatchedClip, *, status: str, **fields: object) -> None:
        """The clip's entry in the sync path's request journal, so estimates know it is paid for."""
        key = journal_key(self.campaign, clip.cache_key)
        entry = read_entry(self.store, key)
        if entry is None or entry.request_id != clip.batch_request_id:
            entry = JournalEntry(
                cache_key=clip.cache_key, campaign=self.campaign, shot=clip.shot, model=model, submitted_at=now_iso(),
                request_id=clip.batch_request_id,
            )  # fmt: skip
        write_entry(self.store, key, entry.model_copy(update={"status": status, **fields}))
