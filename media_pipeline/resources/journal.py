"""The request journal: which paid API request is making which shot's clip, kept in the store.

An entry is written at ``jobs/<campaign>/<shot>.json`` as soon as the API accepts a request, before any
polling, so a crash, a timeout or a re-run picks the same request up again instead of paying for a second one.
The entry is kept after the clip is stored, marked ``done``, as the record of which request made the clip
(its id, model and cost); a later request for the same shot with a different ``cache_key`` replaces it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from .storage import MediaStore


class JournalEntry(BaseModel):
    """One shot's request: enough to resume polling it and to audit what it cost."""

    request_id: str
    cache_key: str
    submitted_at: str
    model: str
    status: Literal["submitted", "done"] = "submitted"
    clip_key: str | None = None
    cost_usd: float | None = None
    finished_at: str | None = None


def journal_key(campaign: str, shot: str) -> str:
    """Where the journal entry of ``shot`` lives in the store."""
    return f"jobs/{campaign}/{shot}.json"


def now_iso() -> str:
    """The current UTC time, ISO 8601, for entries."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_entry(store: MediaStore, key: str) -> JournalEntry | None:
    """The entry at ``key``, or None when there is none or it cannot be read (then it is simply replaced)."""
    try:
        return JournalEntry.model_validate(json.loads(store.get_bytes(key)))
    except (KeyError, ValueError, ValidationError):
        return None


def write_entry(store: MediaStore, key: str, entry: JournalEntry) -> None:
    """Store ``entry`` at ``key`` (atomically, replacing what was there)."""
    store.put_bytes(key, entry.model_dump_json(indent=2).encode())
