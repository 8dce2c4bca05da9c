"""The sync run of ``generated_clips``: every lane at once through ``planning.walk_lane``, each take from the store
or the generator, scored as soon as its clip is in the store.

``Fanout`` is the run's ``planning.Visitor``. A take that fails is recorded with its error, its calls and its cost,
and the others go on; a stored clip with scores beside it (taken at its size) is trusted without a download, any
other is decoded and scored, and one that does not decode is deleted and made again (``healed``). Identical takes
take turns on one lock, so the second finds the first's clip, not the API. ``batch_clips`` uses ``from_store``.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from dagster import Failure

from ..clip_planner import ClipPlanner
from ..clip_request import ClipRequest, ClipSpec, ShotFailed
from ..media.errors import MediaError
from ..picks import ShotResult, TakeResult, first_pick, picked_clip_key
from ..planning import Take, lanes, walk_lane
from ..records import ShotClip
from ..resources.generator import GeneratorStopped, VideoGenerator
from ..shots import ResolvedShot
from ..takes import StoredScores, read_scores, score_clip
from .hosting import image_url
from .metadata import shot_done

QUEUE_SECONDS = 3600  # a hosted URL must stay valid this long after submission: queue plus generation


class Fanout:
    """The run's ``planning.Visitor``: each take from the store or the generator, scored; one instance per step."""

    def __init__(self, planner: ClipPlanner, generator: VideoGenerator, log: logging.Logger):
        self.planner = planner
        self.store = planner.store
        self.generator = generator
        self.log = log
        self.stopped = threading.Event()
        self._claims: dict[str, threading.Lock] = {}
        self._claims_lock = threading.Lock()

    def _claim(self, cache_key: str) -> threading.Lock:
        """One lock per clip: identical takes take turns, so the second finds the first's clip, not the API."""
        with self._claims_lock:
            return self._claims.setdefault(cache_key, threading.Lock())

    def take(self, take: Take, request: ClipRequest) -> TakeResult:
        if self.stopped.is_set():
            return self._failed(take, request, f"{request.where}: not attempted, the generator stopped")
        try:
            with self._claim(request.cache_key):
                found, healed = self.from_store(take, request)
                if found is None and not self.planner.plan.may_generate(take.shot):
                    why = "not made: this run re-rolls other shots only"
                    return self._failed(take, request, f"{request.where}: {why}")
                if found is None:
                    url = partial(image_url, self.store, needed_seconds=QUEUE_SECONDS)
                    outcome = self.generator.generate(self.planner.with_urls(request, url), self.store, self.log)
                    clip = ShotClip(**outcome.model_dump(), healed=healed)
                    found = TakeResult(take, clip, self._scored_new(request, clip))
                    clip.clip_bytes = found.stored.clip_bytes if found.stored else None
            found.clip.cache_key, found.clip.source_key = request.cache_key, request.image_key
            self.log.info(shot_done(request.where, found.clip.status, found.clip.cost_usd))
            return found
        except GeneratorStopped:
            self.stopped.set()
            raise
        except Exception as exc:  # ShotFailed, or anything else (a store hiccup): this take only, the rest go on
            error = str(exc) if isinstance(exc, ShotFailed) else f"{request.where}: {type(exc).__name__}: {exc}"
            self.log.error(error, exc_info=not isinstance(exc, ShotFailed))
            failed = self._failed(take, request, error)
            if isinstance(exc, ShotFailed):
                failed.clip.api_calls, failed.clip.cost_usd = exc.api_calls, exc.cost_usd
                failed.clip.request_id = exc.request_id
            self.log.info(shot_done(request.where, "failed", failed.clip.cost_usd))
            return failed

    def _scored_new(self, request: ClipRequest, clip: ShotClip) -> StoredScores:
        """A new clip's scores; a clip that does not decode fails its take with what it cost (the next run finds
        it undecodable and makes it again)."""
        try:
            return score_clip(self.store, request)
        except MediaError as exc:
            raise ShotFailed(
                f"{request.where}: the new clip {request.clip_key} does not decode: {exc}",
                api_calls=clip.api_calls, cost_usd=clip.cost_usd, request_id=clip.request_id,
            ) from exc  # fmt: skip

    def _failed(self, take: Take, request: ClipRequest | None, error: str) -> TakeResult:
        clip = ShotClip(shot=take.shot.shot_id, status="failed", error=error)
        clip.cache_key = request.cache_key if request else None
        return TakeResult(take, clip)

    def unbuildable(self, take: Take, error: ShotFailed) -> TakeResult:
        self.log.error(str(error))
        return self._failed(take, None, str(error))

    def blocked(self, take: Take, spec: ClipSpec, after: ResolvedShot) -> TakeResult:
        where = f"campaign {self.planner.campaign.campaign_id!r}, shot {take.shot.shot_id!r}"
        return self._failed(take, None, f"{where}: chained to the previous shot, which has no clip")

    def shot(self, shot: ResolvedShot, takes: list[TakeResult]) -> tuple[ShotResult, str | None]:
        result = first_pick(self.planner.plan, takes)
        return result, picked_clip_key(result)

    def from_store(self, take: Take, request: ClipRequest) -> tuple[TakeResult | None, bool]:
        """The stored clip of ``request`` with its scores when it is good; (None, healed) when there is none or it
        is broken.

        A clip with scores beside it, taken at its size, is trusted without a download; any other stored clip is
        fetched, decoded and scored. One that does not decode is deleted, to be made again (``healed``).
        """
        size = self.store.size(request.clip_key)
        if size is None:
            return None, False
        clip = ShotClip(shot=request.shot, status="cached", clip_key=request.clip_key, clip_bytes=size)
        stored = read_scores(self.store, request.clip_key, size)
        if stored is None:
            try:
                stored = score_clip(self.store, request)
            except MediaError as exc:
                self.log.warning(
                    "%s: the stored clip %s does not decode (%s); removing it and making it again",
                    request.where, request.clip_key, exc,
                )  # fmt: skip
                self.store.delete(request.clip_key)
                return None, True
        return TakeResult(take, clip, stored), False


def run_lanes(planner: ClipPlanner, fanout: Fanout, concurrency: int) -> dict[str, ShotResult]:
    """Every lane at once and a shot's takes at once, at most ``concurrency`` takes in flight (a lane waiting for
    its shot's takes holds no slot); ``Failure`` when the generator stopped, once the lanes in flight have wound
    down."""
    campaign = planner.campaign
    workers = max(1, concurrency)
    slots = threading.BoundedSemaphore(workers)
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lane") as pool,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="take") as takes_pool,
    ):

        def map_takes(visit: Callable[[Take], TakeResult], takes: list[Take]) -> list[TakeResult]:
            def in_a_slot(take: Take) -> TakeResult:
                with slots:
                    return visit(take)

            return [in_a_slot(takes[0])] if len(takes) == 1 else list(takes_pool.map(in_a_slot, takes))

        running = [(lane, pool.submit(walk_lane, planner, lane, fanout, map_takes)) for lane in lanes(campaign.shots)]
        results: dict[str, ShotResult] = {}
        stop: GeneratorStopped | None = None
        for lane, future in running:
            try:
                results.update(zip((s.shot_id for s in lane), future.result(), strict=True))
            except GeneratorStopped as exc:
                stop = stop or exc
    if stop is not None:
        raise Failure(description=f"campaign {campaign.campaign_id!r}: generation stopped: {stop}")
    return results
