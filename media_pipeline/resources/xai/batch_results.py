"""Taking an xAI batch's results: each finished clip copied into the store at once, with what the API billed.

``BatchResults.collect`` lists a batch's results (``ListBatchResults``, paged) and takes every one not taken yet:
a clip is downloaded and probed while its URL lives (one hour), a failed request fails its shot, and a URL that
lapsed first (403 / 404 / 410) or a request that expired marks the clip ``lapsed`` for a new batch. A batch that
reports nothing new is asked at most once a minute whether it is finished, so requests it never reports
(cancelled) fail their shots instead of being waited on for ever. The calls, the request journal and the ledger
go through the ``XaiBatches`` that owns it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING

from xai_sdk.batch import BatchResult

from ...clip_request import clip_key
from ..http import DownloadError, GoneDownloadError, RetryableDownloadError
from .batch_journal import BatchedClip, BatchEntry, write_batch
from .catalog import BATCH_RESULT_URL_SECONDS
from .journal import now_iso
from .results import fetch_clip

if TYPE_CHECKING:
    from .batch import XaiBatches

PAGE = 100
STATE_CHECK_SECONDS = 60.0  # how often a batch that reports nothing new is asked whether it is finished
DEADLINE_EXCEEDED = 4  # google.rpc code of a batch request that expired before it ran
LAPSED_HTTP = ("HTTP 403",)  # a lapsed signed URL answers 403; 404 / 410 are GoneDownloadError
URL_LIFE = timedelta(seconds=BATCH_RESULT_URL_SECONDS)


class BatchResults:
    """The results side of one ``XaiBatches``."""

    def __init__(self, batches: XaiBatches) -> None:
        self.b = batches
        self.state_check_seconds = STATE_CHECK_SECONDS
        self._state_checked: dict[str, float] = {}

    def collect(self, entry: BatchEntry) -> list[BatchedClip]:
        """Take every finished result of ``entry`` not taken yet: clips into the store; returns what changed."""
        pending = {c.batch_request_id: c for c in entry.pending()}
        if not pending:
            return []
        client = self.b.g.client()
        changed = []
        token: str | None = None
        while True:
            page = self.b.call(
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
            if self.b.state(entry.batch_id).state.num_pending == 0:
                changed += self._unreported(entry, list(pending.values()))
        if not entry.pending():
            entry.status = "closed"
        write_batch(self.b.store, entry)
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
            self.b.bill(clip, 0.0)
            self.b.journal(entry.model, clip, status="failed", error=error)
            entry.requests[clip.batch_request_id] = clip.model_copy(
                update={"status": "failed", "error": error, "cost_usd": 0.0}
            )
            failed.append(entry.requests[clip.batch_request_id])
        return failed

    def _take(self, model: str, clip: BatchedClip, result: BatchResult) -> BatchedClip:
        where = f"{self.b.where}, shot {clip.shot!r}"
        if result.has_error:
            expired = result.proto.error.code == DEADLINE_EXCEEDED
            error = f"xAI batch request {clip.batch_request_id} failed: {result.error_message}"
            self.b.bill(clip, 0.0)
            self.b.journal(model, clip, status="failed", error=error)
            return clip.model_copy(update={"status": "lapsed" if expired else "failed", "error": error, "cost_usd": 0})
        video = result.video_response
        cost = video.cost_usd if video.cost_usd is not None else clip.estimate_usd
        if clip.cost_usd is None:
            self.b.bill(clip, cost)
        if not video.url or not video.respect_moderation:
            error = f"xAI batch request {clip.batch_request_id} finished without a clip (moderation or no URL)"
            self.b.journal(model, clip, status="failed", error=error)
            return clip.model_copy(update={"status": "failed", "error": error, "cost_usd": cost})
        clip = clip.model_copy(update={"cost_usd": cost, "result_url": video.url})
        self.b.journal(model, clip, status="ready", result_url=video.url, url_expires_at=now_iso(URL_LIFE))
        return self._download(model, clip, where)

    def _download(self, model: str, clip: BatchedClip, where: str) -> BatchedClip:
        """The result copied into the store and probed (``results.fetch_clip``): ``done``; ``lapsed`` when its URL
        is over; ``pending`` (the paid result kept, retried by the next collect) after repeated 5xx or truncated
        downloads."""
        key, g = clip_key(clip.cache_key), self.b.g
        try:
            fetch_clip(
                clip.result_url or "", self.b.store, key, where, attempts=g.download_attempts,
                max_bytes=g.max_download_bytes, backoff=g.backoff, log=self.b.log,
            )  # fmt: skip
        except RetryableDownloadError:
            return clip.model_copy(update={"status": "pending", "error": "download kept failing; retried next time"})
        except DownloadError as exc:
            self.b.store.delete(key)
            if isinstance(exc, GoneDownloadError) or str(exc).endswith(LAPSED_HTTP):
                error = f"the result URL of batch request {clip.batch_request_id} lapsed before download ({exc})"
                self.b.log.warning("%s: %s; it goes out again in a new batch", where, error)
                self.b.journal(model, clip, status="failed", error=error)
                return clip.model_copy(update={"status": "lapsed", "error": error})
            error = f"the clip of xAI batch request {clip.batch_request_id} is not usable: {exc}"
            self.b.journal(model, clip, status="failed", error=error)
            return clip.model_copy(update={"status": "failed", "error": error})
        self.b.journal(model, clip, status="done", clip_key=key, finished_at=now_iso())
        return clip.model_copy(update={"status": "done", "error": None})
