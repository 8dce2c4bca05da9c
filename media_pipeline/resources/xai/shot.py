"""One clip's paid request under its claim, from the journal's last word to the clip in the store.

``ShotRun.run`` picks up where the journal (``journal.py``) left off: no entry or a ``failed`` one submits; a
``submitting`` one without a request id submits too, counted as an uncertain submit (its reply was lost, so the API
may have billed a request nobody can name); ``submitted`` polls the journaled request id; ``ready`` or ``done`` with
a live result URL downloads from it. Every submit is in the spend ledger (``ledger.py``) before it is made.

What costs a second payment, and only once per run: the API forgets a journaled id (NOT_FOUND), a request comes back
EXPIRED, the result URL answers 404 / 410 or is past its 24 h life. A 5xx or truncated download keeps the paid
result for the next run. A result that is not a video after two downloads marks the request failed.
Polling is ``polling.py``'s job, the download ``results.py``'s. Under ``hosting: xai_files`` the request's images
are uploaded (``files.py``) before the journal says ``submitting``: an upload costs nothing.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import grpc
from xai_sdk.proto import deferred_pb2

from ..generator import ClipOutcome, ClipRequest, ShotFailed
from ..http import DownloadError, GoneDownloadError, RetryableDownloadError
from ..store import MediaStore
from . import calls, ledger, polling
from .calls import AMBIGUOUS, Gone, Tally
from .journal import JournalEntry, journal_key, now_iso, read_entry, write_entry
from .results import NotPlayable, fetch_clip

if TYPE_CHECKING:
    from ..claims import Claim
    from .generator import XaiVideoGenerator

MAX_ROUNDS = 4  # a journaled request the API forgot, then a fresh one, then one resubmission: 3 are ever needed


class ShotRun:
    """One shot's request under its claim; ``tally`` says what it spent, also when it fails."""

    def __init__(self, generator: XaiVideoGenerator, request: ClipRequest, store: MediaStore, log: logging.Logger):
        self.g, self.request, self.store, self.log = generator, request, store, log
        self.tally = Tally()
        self.started = time.monotonic()
        self.key = journal_key(request.campaign, request.cache_key)
        self.where = request.where

    def outcome(self, status: str, **fields: object) -> ClipOutcome:
        """The outcome with this run's spend."""
        t = self.tally
        return ClipOutcome(
            shot=self.request.shot, status=status, clip_key=self.request.clip_key, request_id=t.request_id,
            cost_usd=t.cost_usd, latency_s=time.monotonic() - self.started, api_calls=t.api_calls,
            submits=t.submits, uncertain_submits=t.uncertain_submits, **fields,
        )  # fmt: skip

    def failed(self, message: str) -> ShotFailed:
        """``ShotFailed`` carrying this run's spend."""
        t = self.tally
        return ShotFailed(message, api_calls=t.api_calls, cost_usd=t.cost_usd, request_id=t.request_id)

    # -- the journal's states -------------------------------------------------------------------------------

    def _adopt(self, claim: Claim) -> JournalEntry | None:
        """Our entry for this clip, or the one of the dead holder whose claim we took over."""
        entry = read_entry(self.store, self.key)
        previous = claim.previous
        if (entry is None or entry.status in ("failed", "done")) and previous and previous.journal_key != self.key:
            theirs = read_entry(self.store, previous.journal_key)
            if theirs is not None and theirs.cache_key == self.request.cache_key:
                self.log.info("%s: adopting the request journaled by campaign %r", self.where, previous.campaign)
                entry = theirs
        return entry if entry is None or entry.cache_key == self.request.cache_key else None

    def save(self, entry: JournalEntry, **changes: object) -> JournalEntry:
        entry = entry.model_copy(update=changes)
        write_entry(self.store, self.key, entry)
        return entry

    def run(self, claim: Claim) -> ClipOutcome:
        """At most ``MAX_ROUNDS`` rounds of (submit if needed, wait, deliver), each from the journal's last word."""
        entry = self._adopt(claim)
        second_chances = 1  # EXPIRED, or a result gone, of a request submitted in this run: one more submit
        fresh, files_renewed = False, False
        for _round in range(MAX_ROUNDS):
            if (
                entry is None
                or entry.status in ("submitting", "failed")
                or (entry.status in ("ready", "done") and not entry.url_alive())
            ):
                self._explain_resubmit(entry)
                if claim.lost:
                    raise self.failed(f"{self.where}: another run took this clip's claim over; nothing submitted")
                try:
                    entry, fresh = self._submit(), True
                except Gone:  # a file xAI dropped after this process checked it: checked and uploaded anew, once
                    if files_renewed:
                        raise self.failed(f"{self.where}: xAI does not know the files just uploaded") from None
                    entry, files_renewed = None, True
                    continue
            if entry.status == "submitted":
                assert entry.request_id is not None
                self.tally.request_id = entry.request_id
                try:
                    entry = polling.wait(self, entry, resumed=not fresh)
                except Gone:
                    self.log.warning("%s: journaled request %s is unknown to the API", self.where, entry.request_id)
                    entry = self.save(entry, status="failed", error="unknown to the API")
                    continue
                if entry.status == "failed":  # EXPIRED
                    if fresh and second_chances == 0:
                        raise self.failed(
                            f"{self.where}: xAI request {entry.request_id} expired again after one resubmission"
                        )
                    second_chances -= 1 if fresh else 0
                    self.log.warning("%s: request %s expired; submitting anew", self.where, entry.request_id)
                    continue
            try:
                return self._deliver(entry)
            except GoneDownloadError as exc:
                if fresh and second_chances == 0:
                    raise self.failed(
                        f"{self.where}: the result of xAI request {entry.request_id} is gone ({exc}) "
                        "again after one resubmission"
                    ) from None
                second_chances -= 1 if fresh else 0
                entry = self.save(entry, status="failed", error=f"result gone: {exc}")
        raise self.failed(f"{self.where}: no clip after {MAX_ROUNDS} rounds of submit, wait and download")

    def _explain_resubmit(self, entry: JournalEntry | None) -> None:
        if entry is None:
            return
        if entry.status == "submitting":
            self.tally.uncertain_submits += 1
            self.log.warning(
                "%s: a submit made at %s never got its reply (the run died or the reply was lost); the API may have "
                "billed it, but it cannot be named: submitting again (counted in the ledger at its estimate)",
                self.where, entry.submitted_at,
            )  # fmt: skip
        elif entry.status != "failed":
            self.log.warning(
                "%s: the result URL of request %s is past its life; submitting anew", self.where, entry.request_id
            )
        else:
            self.log.warning("%s: request %s ended %s; submitting anew", self.where, entry.request_id, entry.error)

    # -- API ------------------------------------------------------------------------------------------------

    def _submit(self) -> JournalEntry:
        """Journal ``submitting``, open a ledger attempt, submit, then journal the request id."""
        request, tally = self.request, self.tally
        estimate = self.g.estimate_usd(request)
        file_ids = self.g.file_ids(request, self.store, tally, self.log) if request.hosting == "xai_files" else None
        entry = JournalEntry(
            cache_key=request.cache_key,
            campaign=request.campaign,
            shot=request.shot,
            model=request.model,
            status="submitting",
            submitted_at=now_iso(),
        )
        write_entry(self.store, self.key, entry)
        client = self.g.client()
        attempt: list[str | None] = [None]

        def start() -> deferred_pb2.StartDeferredResponse:
            if attempt[0] is None:
                attempt[0] = ledger.open_attempt(
                    self.store, request.campaign, request.shot, request.cache_key, estimate
                )
            return calls.start(client, request, file_ids)

        def on_error(code: grpc.StatusCode | None) -> None:
            if code in AMBIGUOUS:  # the API may have accepted it: its ledger entry stays, unconfirmed
                tally.uncertain_submits += 1
                attempt[0] = None

        try:
            reply = self.g.call(
                self.where, tally, "GenerateVideo", start, on_error=on_error, model=request.model,
                not_found_is_gone=file_ids is not None,
            )  # fmt: skip
        except BaseException as exc:
            if attempt[0] is not None:  # refused outright: it cost nothing
                ledger.discard(self.store, attempt[0])
            if isinstance(exc, Gone) and file_ids:
                self.g.forget_files(file_ids.values())
            if tally.uncertain_submits:  # some attempt may exist: say so in the journal
                self.save(entry, status="failed", error=str(exc).removeprefix(f"{self.where}: "))
            else:  # nothing was accepted: nothing to journal
                self.store.delete(self.key)
            raise
        request_id = reply.request_id
        tally.submits += 1
        tally.request_id = request_id
        self.log.info(
            "%s: submitted xAI request %s (%s, %d s, %s)",
            self.where,
            request_id,
            request.model,
            request.duration,
            request.resolution,
        )  # before the writes: a failed write never hides it
        assert attempt[0] is not None
        ledger.confirm(self.store, attempt[0], request.campaign, request.shot, request.cache_key, request_id, estimate)
        return self.save(entry, status="submitted", request_id=request_id)

    # -- the result -----------------------------------------------------------------------------------------

    def _deliver(self, entry: JournalEntry) -> ClipOutcome:
        """Copy the result into the store and probe it (``results.fetch_clip``); keeps the paid result when a
        retry may still get it, and downloads once more a body that does not play."""
        assert entry.result_url is not None
        request_id, clip_key, g = entry.request_id, self.request.clip_key, self.g
        self.tally.request_id = request_id
        for reading in (1, 2):  # a bad object from the CDN gets one more download
            try:
                info = fetch_clip(
                    entry.result_url, self.store, clip_key, self.where, attempts=g.download_attempts,
                    max_bytes=g.max_download_bytes, backoff=g.backoff, log=self.log,
                )  # fmt: skip
                break
            except NotPlayable as exc:
                if reading == 2:
                    error = f"the clip of xAI request {request_id} is not a playable video ({exc})"
                    self.save(entry, status="failed", error=error)
                    raise self.failed(f"{self.where}: {error}; the next run submits anew") from None
            except RetryableDownloadError as exc:
                raise self.failed(
                    f"{self.where}: download of xAI request {request_id}'s result failed {g.download_attempts} "
                    f"times ({exc}); the paid result is kept: the next run downloads it again, without a new "
                    f"request, until {entry.url_expires_at}"
                ) from None
            except GoneDownloadError:
                raise
            except DownloadError as exc:
                self.save(entry, status="failed", error=str(exc))
                raise self.failed(f"{self.where}: cannot download the clip: {exc}") from None
        self.save(entry, status="done", clip_key=clip_key, finished_at=now_iso())
        self.log.info(
            "%s: clip from xAI request %s stored at %s ($%.2f this run, %d API calls)",
            self.where, request_id, clip_key, self.tally.cost_usd, self.tally.api_calls,
        )  # fmt: skip
        return self.outcome("generated", video_seconds=info.duration)
