"""The request journal: which paid API request is making which clip, and how far it got, kept in the store.

One entry per clip at ``jobs/<campaign>/<cache_key>.json``: keyed by the clip's content address, so two shots can
never share an entry unless they are the same clip (two files ``prod.jpg`` and ``prod.png`` have different
pixels, so different keys), and a renamed shot still finds its request. The entry moves through:

- ``submitting``: written *before* the GenerateVideo call. If it is still there with no request id, the reply was
  lost or the run died mid-call: the API may have accepted (and billed) a request we cannot name, since it has no
  idempotency key and no list call. The next holder submits again and counts it as an uncertain submit.
- ``submitted``: the API accepted ``request_id``: a later run polls it instead of paying again.
- ``ready``: the request is DONE and paid; its ``result_url`` lives until ``url_expires_at`` (24 h). A download that
  failed in a retryable way leaves the entry here, and the next run downloads from the URL without submitting.
- ``done``: the clip is in the store. ``failed``: the request ended FAILED, moderated, expired or with a result
  that is not a video; the next run submits anew.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ValidationError

from ..store import MediaStore

RESULT_URL_LIFE = timedelta(hours=24)
Status = Literal["submitting", "submitted", "ready", "done", "failed"]


class JournalEntry(BaseModel):
    """One clip's request: enough to resume polling or downloading it, and to audit what it cost."""

    cache_key: str
    campaign: str = ""
    shot: str = ""
    model: str
    status: Status = "submitted"
    request_id: str | None = None
    submitted_at: str
    result_url: str | None = None
    url_expires_at: str | None = None
    clip_key: str | None = None
    cost_usd: float | None = None
    finished_at: str | None = None
    error: str | None = None

    def url_alive(self, margin: timedelta = timedelta(minutes=5)) -> bool:
        """True while ``result_url`` should still answer (with a margin for the download itself)."""
        if not self.result_url or not self.url_expires_at:
            return False
        return datetime.fromisoformat(self.url_expires_at) - margin > datetime.now(UTC)

    @property
    def paid_and_pending(self) -> bool:
        """True when a later run can finish this clip without paying again (its request is journaled)."""
        return self.status == "submitted" or (self.status in ("ready", "done") and self.url_alive())


def journal_key(campaign: str, cache_key: str) -> str:
    """Where the journal entry of the clip ``cache_key`` made for ``campaign`` lives in the store."""
    return f"jobs/{campaign}/{cache_key}.json"


def now_iso(delta: timedelta = timedelta()) -> str:
    """The current UTC time (plus ``delta``), ISO 8601, for entries."""
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


def read_entry(store: MediaStore, key: str) -> JournalEntry | None:
    """The entry at ``key``, or None when there is none or it cannot be read (then it is simply replaced)."""
    try:
        return JournalEntry.model_validate(json.loads(store.get_bytes(key)))
    except (KeyError, ValueError, ValidationError):
        return None


def write_entry(store: MediaStore, key: str, entry: JournalEntry) -> None:
    """Store ``entry`` at ``key`` (atomically, replacing what was there)."""
    store.put_bytes(key, entry.model_dump_json(indent=2, exclude_none=True).encode())
