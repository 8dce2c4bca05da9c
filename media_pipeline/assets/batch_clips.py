"""``generated_clips`` in batch mode (``mode: batch``): the campaign's uncached takes as xAI batches.

Lanes map onto batches in waves, through the planning's one walk (``planning.walk``): every take whose source is
known (each lane's first shot, and a chained shot once the take it starts from is picked) goes out in one batch; a
chained shot waits for that pick and goes out in the next wave's batch. A campaign without chains is one batch.
Each round collects the finished results of the campaign's open batches (clips copied into the store at once: the
URLs live one hour), then sends the takes that became ready, under their claims (so two runs never batch one clip
twice). A result whose URL lapsed before it was copied, or a request that expired, goes out once more in a new
batch, counted and costed.

The step waits for results at most ``MEDIA_PIPELINE_BATCH_WAIT_SECONDS`` (default 60), polling every
``MEDIA_PIPELINE_BATCH_POLL_SECONDS`` (default 10); shots still in a batch then are *waiting*: the step ends
without materializing (``generated_clips`` has ``output_required=False``, so ``deliverable`` is skipped, not
failed) and the batch sensor requests the campaign's run again when results are in. That run resumes from the
batch journal and pays for nothing new.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from ..clip_planner import ClipPlanner
from ..clip_request import ClipRequest, ClipSpec, ShotFailed, clip_key
from ..picks import ShotResult, TakeResult, first_pick, picked_clip_key
from ..planning import Take, walk
from ..records import ShotClip
from ..resources.claims import Claim, ClaimFailed, acquire
from ..resources.xai.batch import XaiBatches
from ..resources.xai.batch_journal import BatchedClip, BatchEntry, read_batches
from ..resources.xai.generator import XaiVideoGenerator
from ..resources.xai.journal import journal_key
from ..settings import number
from ..shots import ResolvedShot
from .hosting import image_url

WAIT_ENV, POLL_ENV = "MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "MEDIA_PIPELINE_BATCH_POLL_SECONDS"
BATCH_QUEUE_SECONDS = 25 * 3600  # a batched request may start up to a day later: its image URLs must outlive that


@dataclass
class BatchRound:
    """What one walk over the lanes found."""

    results: dict[str, ShotResult] = field(default_factory=dict)  # by shot: the shots settled
    waiting: dict[str, str] = field(default_factory=dict)  # shot -> why
    to_send: dict[str, ClipRequest] = field(default_factory=dict)  # by cache key: identical shots pay once


class BatchStep:
    """One materialization of ``generated_clips`` in batch mode; ``from_store`` is the sync fan-out's store check.
    It is the walk's ``planning.Visitor``: a take still to come out of a batch is None."""

    def __init__(
        self,
        planner: ClipPlanner,
        generator: XaiVideoGenerator,
        from_store: Callable[[Take, ClipRequest], tuple[TakeResult | None, bool]],
        log: logging.Logger,
        environ: Mapping[str, str],
    ):
        self.planner, self.from_store, self.log = planner, from_store, log
        self.campaign = planner.campaign.campaign_id
        self.store = planner.store
        self.generator = generator
        self.batches = XaiBatches(self.generator, self.store, self.campaign, log, environ)
        self.wait_seconds = number(environ, WAIT_ENV, 60.0, float, 0.0)
        self.poll_seconds = number(environ, POLL_ENV, 10.0, float, 0.01)
        self.journal: list[BatchEntry] = []
        self.collected: dict[str, BatchedClip] = {}  # by cache key: results taken in this run
        self.second_chances: set[str] = set()  # cache keys already sent again in this run
        self.sent: dict[str, int] = {}  # by cache key: batch requests created in this run (paid in this run)
        self.costs: dict[str, float] = {}  # by cache key: what the results taken in this run cost
        self.refused: dict[str, str] = {}  # by cache key: why AddBatchRequests did not take it in this run
        self.good: dict[str, TakeResult] = {}  # by cache key: clips found good in the store in this step
        self.healed: set[str] = set()  # cache keys whose stored clip did not decode and was removed
        self.found = BatchRound()

    def run(self) -> BatchRound:
        deadline = time.monotonic() + self.wait_seconds
        self.journal = [self.reconcile(b) for b in read_batches(self.store, self.campaign)]
        while True:
            for entry in self.journal:
                for clip in self.batches.collect(entry):
                    self.collected[clip.cache_key] = clip
                    self.costs[clip.cache_key] = self.costs.get(clip.cache_key, 0.0) + (clip.cost_usd or 0.0)
            found = self.walk()
            if found.to_send and self.send(found.to_send):
                continue  # collect the new batch, then walk again
            if not found.waiting or time.monotonic() >= deadline:
                return found
            time.sleep(min(self.poll_seconds, max(0.0, deadline - time.monotonic())))

    # -- the walk -------------------------------------------------------------------------------------------

    def latest(self, cache_key: str) -> BatchedClip | None:
        """The newest batch request of this clip in the campaign's journal."""
        found = None
        for entry in self.journal:  # oldest first
            for clip in entry.requests.values():
                if clip.cache_key == cache_key:
                    found = clip
        return found

    def walk(self) -> BatchRound:
        self.found = BatchRound()
        walk(self.planner, self)
        return self.found

    def shot(self, shot: ResolvedShot, takes: list[TakeResult | None]) -> tuple[None, str | None]:
        """A shot with every take settled is picked; one with a take still in (or for) a batch waits."""
        settled = [t for t in takes if t is not None]
        if len(settled) < len(takes):
            return None, None
        result = first_pick(self.planner.plan, settled)
        self.found.results[shot.shot_id] = result
        return None, picked_clip_key(result)

    def blocked(self, take: Take, spec: ClipSpec, after: ResolvedShot) -> TakeResult | None:
        if after.shot_id in self.found.waiting:
            self.found.waiting[take.shot.shot_id] = f"waits for the clip of shot {after.shot_id!r} (next batch)"
            return None
        where = f"campaign {self.campaign!r}, shot {take.shot.shot_id!r}"
        return self.failed(take, None, f"{where}: chained to the previous shot, which has no clip")

    def unbuildable(self, take: Take, error: ShotFailed) -> TakeResult:
        return self.failed(take, None, str(error))

    @staticmethod
    def failed(take: Take, request: ClipRequest | None, error: str, **spent: object) -> TakeResult:
        clip = ShotClip(shot=take.shot.shot_id, status="failed", error=error, **spent)  # type: ignore[arg-type]
        return TakeResult(take, BatchStep.described(clip, request, False) if request else clip)

    def take(self, take: Take, request: ClipRequest) -> TakeResult | None:
        """The take as a clip (made or failed), or None: waiting in a batch, or put in ``to_send``."""
        found, key, shot = self.found, request.cache_key, take.shot.shot_id
        stored, healed = self.stored(take, request)
        if stored is not None:
            made = self.collected.get(key)
            if made is not None:  # copied from a batch result in this run
                stored.clip.status, stored.clip.request_id = "generated", made.batch_request_id
                stored.clip.cost_usd, stored.clip.submits = self.costs.get(key, 0.0), self.sent.get(key, 0)
            self.described(stored.clip, request, healed)
            return stored
        if not self.planner.plan.may_generate(take.shot):
            return self.failed(take, request, f"{request.where}: not made: this run re-rolls other shots only")
        if key in self.refused:
            return self.failed(take, request, f"{request.where}: {self.refused[key]}")
        latest = self.latest(key)
        if latest is not None and latest.status == "pending":
            found.waiting[shot] = f"in xAI batch request {latest.batch_request_id}"
            return None
        made = self.collected.get(key)
        this_run = latest is not None and made is not None and made.batch_request_id == latest.batch_request_id
        if this_run and (latest.status == "failed" or key in self.second_chances):
            assert latest is not None
            spent = {"request_id": latest.batch_request_id, "cost_usd": self.costs.get(key, 0.0),
                     "submits": self.sent.get(key, 0)}  # fmt: skip
            return self.failed(take, request, f"{request.where}: {latest.error}", **spent)
        if this_run:  # lapsed or expired in this run: one more batch
            self.second_chances.add(key)
        found.to_send.setdefault(key, request)
        found.waiting[shot] = "to be sent in a batch"
        return None

    def stored(self, take: Take, request: ClipRequest) -> tuple[TakeResult | None, bool]:
        """``from_store`` once per clip and step (a clip found good is not fetched and decoded every round); the
        flag says the clip was found broken and removed in this step (``healed`` once made again)."""
        key = request.cache_key
        if key not in self.good:
            result, healed = self.from_store(take, request)
            if healed:
                self.healed.add(key)
            if result is None:
                return None, key in self.healed
            self.good[key] = result
        good = self.good[key]
        return TakeResult(take, good.clip.model_copy(), good.stored), key in self.healed

    @staticmethod
    def described(clip: ShotClip, request: ClipRequest, healed: bool) -> ShotClip:
        clip.cache_key, clip.source_key, clip.healed = request.cache_key, request.image_key, healed
        return clip

    # -- sending --------------------------------------------------------------------------------------------

    def claim(self, cache_key: str, shot: str) -> Claim | None:
        """The clip's claim now, or None when its clip is in the store; ``ClaimFailed`` when another run holds it."""
        where = f"campaign {self.campaign!r}, shot {shot!r}"
        return acquire(
            self.store, cache_key, campaign=self.campaign, shot=shot, journal_key=journal_key(self.campaign, cache_key),
            lease_seconds=self.generator.claim_lease_seconds, poll_seconds=0.0, patience_seconds=0.0,
            clip_ready=lambda: self.store.exists(clip_key(cache_key)), check=lambda: None, log=self.log,
            where=where,
        )  # fmt: skip

    def reconcile(self, entry: BatchEntry) -> BatchEntry:
        """A batch a run left ``adding`` made whole, under its clips' claims: a live run still adding holds them,
        and its batch is left to it."""
        if entry.status != "adding":
            return entry
        claims: list[Claim] = []
        try:
            for clip in entry.requests.values():
                if (claim := self.claim(clip.cache_key, clip.shot)) is not None:
                    claims.append(claim)
            return self.batches.resume(entry)
        except ClaimFailed:
            return entry
        finally:
            for claim in claims:
                claim.release()

    def send(self, requests: dict[str, ClipRequest]) -> int:
        """One new batch for ``requests``, each under its clip's claim (a clip another run holds waits); returns
        how many went out."""
        claims, ready = [], []
        for request in requests.values():
            try:
                claim = self.claim(request.cache_key, request.shot)
            except ClaimFailed:
                self.log.info("%s: another run holds this clip; waiting for it", request.where)
                continue
            if claim is not None:
                claims.append(claim)
                url = partial(image_url, self.store, needed_seconds=BATCH_QUEUE_SECONDS)
                ready.append(self.planner.with_urls(request, url))
        error: str | None = "the batch could not be submitted"
        try:
            held = {r.cache_key for r in ready}  # a batch left adding with one of these was a dead run's
            self.journal = [  # another run may have sent some meanwhile
                self.batches.resume(b) if b.status == "adding" and held & {c.cache_key for c in b.requests.values()}
                else b
                for b in read_batches(self.store, self.campaign)
            ]  # fmt: skip
            ready = [r for r in ready if (self.latest(r.cache_key) or _UNSENT).status not in ("pending", "done")]
            if ready:
                entry = self.batches.submit(ready)
                self.journal.append(entry)
                for clip in entry.requests.values():
                    self.sent[clip.cache_key] = self.sent.get(clip.cache_key, 0) + 1
                added = {c.cache_key for c in entry.requests.values()}
                for request in ready:  # refused by AddBatchRequests: failed in this run, not sent again
                    if request.cache_key not in added:
                        why = self.batches.add_error or "the batch does not hold it"
                        self.refused[request.cache_key] = f"not added to xAI batch {entry.batch_id}: {why}"
            error = None
        finally:
            for claim in claims:
                claim.release(error)
        return len(ready)


_UNSENT = BatchedClip(batch_request_id="", shot="", cache_key="", estimate_usd=0.0, status="lapsed")
