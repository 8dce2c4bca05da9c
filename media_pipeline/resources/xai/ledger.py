"""The spend ledger: what a campaign has paid for, across every run, kept in the store.

One small object per paid (or possibly paid) request under ``ledger/<campaign>/``, so runs on several threads,
processes or machines append without ever writing the same object:

- ``unconfirmed-<attempt>.json`` is written before each GenerateVideo call at the request's estimate, and
  removed once the API answers with a request id or with a refusal that cannot have been billed. An attempt whose
  reply never came (UNAVAILABLE, DEADLINE_EXCEEDED, a run killed mid-call) stays: the API may have accepted and
  billed it, and nothing can tell (no idempotency key, no list call), so the budget counts it at its estimate.
- ``<request_id>.json`` holds an accepted request at its estimate, then at the cost the API reported once it
  finished.

``budget_usd`` applies to ``spent``: the sum of every entry, not one run's share.
"""

from __future__ import annotations

import json
import uuid
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..store import MediaStore
from .journal import now_iso

PREFIX = "ledger"


class LedgerEntry(BaseModel):
    """One request's charge: ``estimate`` until the API reports the cost (``final``)."""

    campaign: str
    shot: str
    cache_key: str
    request_id: str | None = None
    cost_usd: float
    status: Literal["unconfirmed", "estimate", "final"]
    at: str


def _key(campaign: str, name: str) -> str:
    return f"{PREFIX}/{campaign}/{name}.json"


def open_attempt(store: MediaStore, campaign: str, shot: str, cache_key: str, estimate_usd: float) -> str:
    """Write the entry of a submit about to be made; returns its key (for ``confirm`` or ``discard``)."""
    key = _key(campaign, f"unconfirmed-{uuid.uuid4().hex}")
    entry = LedgerEntry(
        campaign=campaign, shot=shot, cache_key=cache_key, cost_usd=estimate_usd, status="unconfirmed", at=now_iso()
    )
    store.put_bytes(key, entry.model_dump_json().encode())
    return key


def discard(store: MediaStore, attempt_key: str) -> None:
    """The attempt was refused before the API could accept it: it cost nothing."""
    store.delete(attempt_key)


def record(
    store: MediaStore, campaign: str, shot: str, cache_key: str, request_id: str, cost_usd: float, *, final: bool
) -> None:
    """The charge of the accepted request ``request_id``: its estimate, or (``final``) what the API reported."""
    entry = LedgerEntry(
        campaign=campaign,
        shot=shot,
        cache_key=cache_key,
        request_id=request_id,
        cost_usd=cost_usd,
        status="final" if final else "estimate",
        at=now_iso(),
    )
    store.put_bytes(_key(campaign, request_id), entry.model_dump_json().encode())


def confirm(
    store: MediaStore, attempt_key: str, campaign: str, shot: str, cache_key: str, request_id: str, estimate_usd: float
) -> None:
    """The attempt was accepted as ``request_id``: its entry moves to the request's name."""
    record(store, campaign, shot, cache_key, request_id, estimate_usd, final=False)
    store.delete(attempt_key)


def entries(store: MediaStore, campaign: str) -> list[LedgerEntry]:
    """Every readable entry of ``campaign`` (an unreadable one is skipped: it was never a full write)."""
    found: list[LedgerEntry] = []
    for key in store.list_keys(f"{PREFIX}/{campaign}/"):
        try:
            found.append(LedgerEntry.model_validate(json.loads(store.get_bytes(key))))
        except (KeyError, ValueError, ValidationError):
            continue
    return found


def spent(store: MediaStore, campaign: str) -> float:
    """What ``campaign`` has spent so far, in USD, counting unconfirmed attempts at their estimate."""
    return round(sum(e.cost_usd for e in entries(store, campaign)), 6)
