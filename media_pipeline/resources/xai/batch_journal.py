"""The batch journal: which xAI batch carries which clip of a campaign, kept in the store before anyone waits.

One object per batch at ``batches/<campaign>/<batch_id>.json``. It is written right after ``CreateBatch`` (which
costs nothing) with every request about to be added (``adding``, each with its ledger attempt), and again once
``AddBatchRequests`` answered (``pending``), so a run killed at any point is resumed from it: an ``adding`` batch is
compared with the batch's own request list (the Batch API has one, unlike the sync API), requests that reached
xAI are kept, the others are dropped and submitted anew. A request then becomes ``done`` (its clip in the store),
``failed`` (the API's error; a FAILED request is not resubmitted) or ``lapsed`` (its result URL, which lives one
hour, answered 403 / 404 / 410 before the clip was copied: the shot goes out again in a new batch). The batch is
``open`` while a request is pending and ``closed`` after; the batch sensor watches the open ones.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..store import MediaStore

PREFIX = "batches"
RequestStatus = Literal["adding", "pending", "done", "failed", "lapsed"]


class BatchedClip(BaseModel):
    """One clip's request in a batch."""

    batch_request_id: str
    shot: str
    cache_key: str
    estimate_usd: float
    attempt_key: str | None = None  # the ledger's unconfirmed entry until the add is confirmed
    status: RequestStatus = "adding"
    cost_usd: float | None = None
    result_url: str | None = None
    error: str | None = None

    @property
    def ledger_id(self) -> str:
        """The request's name in the spend ledger (unique across batches)."""
        return self.batch_request_id


class BatchEntry(BaseModel):
    """One batch of one campaign and the clips it carries, by batch request id."""

    batch_id: str
    campaign: str
    model: str
    created_at: str
    status: Literal["adding", "open", "closed"] = "adding"
    requests: dict[str, BatchedClip] = {}

    @property
    def key(self) -> str:
        return batch_key(self.campaign, self.batch_id)

    def pending(self) -> list[BatchedClip]:
        """The requests whose result has not been taken yet."""
        return [r for r in self.requests.values() if r.status == "pending"]


def batch_key(campaign: str, batch_id: str) -> str:
    """Where the journal of ``batch_id`` lives."""
    return f"{PREFIX}/{campaign}/{batch_id}.json"


def write_batch(store: MediaStore, entry: BatchEntry) -> None:
    """Store ``entry`` (atomically, replacing the previous version)."""
    store.put_bytes(entry.key, entry.model_dump_json(indent=2, exclude_none=True).encode())


def batch_keys(store: MediaStore, campaign: str | None = None) -> list[str]:
    """The keys of every batch journal of ``campaign`` (None: of every campaign)."""
    return store.list_keys(f"{PREFIX}/{campaign}/" if campaign else f"{PREFIX}/")


def read_batch(store: MediaStore, key: str) -> BatchEntry | None:
    """The batch journal at ``key``; None when it cannot be read."""
    try:
        return BatchEntry.model_validate(json.loads(store.get_bytes(key)))
    except (KeyError, ValueError, ValidationError):
        return None


def read_batches(store: MediaStore, campaign: str | None = None) -> list[BatchEntry]:
    """Every readable batch journal of ``campaign`` (None: of every campaign), oldest first."""
    found = [read_batch(store, key) for key in batch_keys(store, campaign)]
    return sorted((b for b in found if b is not None), key=lambda b: b.created_at)
