"""``generated_clips``: every take of every shot through the ``VideoGenerator``, scored, one take picked per shot.

The plan (``planning``, ``takes``) lists each shot's takes; the lanes run in parallel up to the generator's
concurrency (a shot's takes at once, too), through ``planning.walk_lane``, the walk the estimate uses. The asset
sits in the ``xai_video`` pool so concurrent runs share the account's cap, and the xAI generator claims each clip in
the store before paying for it, so concurrent runs pay once. A take that fails is recorded with its error, its calls
and its cost, and the others go on; what was generated (and paid for) is in the store at once and is a cache hit on
the next run. Each clip is scored once, its scores kept beside it (``clips/<key>.scores.json``); a stored clip
without scores is decoded and scored, and one that does not decode is deleted and made again (``healed``). The
best take is picked (``picks``), or the one picked by hand. ``budget_usd`` caps the campaign's spend across runs
(the ledger) plus this run's estimate. Only a stop of the whole generator (bad credentials) fails the step, after
the lanes in flight have wound down. With ``mode: batch`` the takes go out as xAI batches (``batch_clips``).

Run config (the Launchpad): ``picks`` (shot -> take) changes the delivered take without paying for anything and is
kept for later runs; ``reroll_shot`` (with ``reroll_takes``, ``reroll_model``) adds takes to one shot and pays for
those alone.
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, Config, Failure
from pydantic import Field

from ..campaign import ResolvedShot
from ..checks import FIRST_FRAMES_FAITHFUL
from ..clip_planner import ClipPlanner
from ..clip_request import ClipRequest, ClipSpec, ShotFailed
from ..estimate import estimate
from ..media.errors import MediaError
from ..picks import ShotResult, TakeResult, first_pick, picked_clip_key, settle
from ..planning import Plan, Take, lanes, walk_lane
from ..records import HostedImages, ShotClip, SourceImages
from ..resources.generator import GeneratorStopped, VideoGenerator
from ..resources.store import MediaStore
from ..resources.xai import ledger
from ..resources.xai.batch import batch_price_usd
from ..resources.xai.generator import XaiVideoGenerator
from ..resources.xai.journal import journal_key, read_entry
from ..takes import Reroll, ShotChoices, make_plan, plan_problems, read_choices, read_scores, score_clip, write_choices
from ._common import campaign_asset
from .batch_clips import BatchStep
from .hosting import image_url, sign
from .metadata import materialize_clips, shot_done

QUEUE_SECONDS = 3600  # a hosted URL must stay valid this long after submission: queue plus generation


class GenerationConfig(Config):
    """What the Launchpad can ask of one run of ``generated_clips``."""

    picks: dict[str, int] = Field(
        default_factory=dict, description="shot -> take to deliver (kept for later runs); pays for nothing"
    )
    reroll_shot: str | None = Field(default=None, description="a shot to make new takes of; pays for those only")
    reroll_takes: int = Field(default=1, ge=1, le=8, description="how many new takes reroll_shot gets")
    reroll_model: str | None = Field(default=None, description="the new takes' model (default: the campaign's)")

    @property
    def reroll(self) -> Reroll | None:
        if self.reroll_shot is None:
            return None
        return Reroll(shot=self.reroll_shot, takes=self.reroll_takes, model=self.reroll_model)


def clip_price(mode: str, generator: VideoGenerator):
    """What a clip of a spec costs: the generator's estimate, or the catalog's batch price in batch mode."""
    if mode == "batch" and isinstance(generator, XaiVideoGenerator):
        return batch_price_usd
    return generator.estimate_usd


def already_paid(store: MediaStore, campaign_id: str, cache_key: str) -> bool:
    """True when the journal holds a paid request for this clip that a run can finish without paying again."""
    entry = read_entry(store, journal_key(campaign_id, cache_key))
    return entry is not None and entry.cache_key == cache_key and entry.paid_and_pending


def model_problems(plan: Plan, generator: VideoGenerator) -> list[str]:
    """Takes whose model the xAI catalog does not know, or that cannot pin the shot's last frame."""
    if not isinstance(generator, XaiVideoGenerator):
        return []
    catalog, problems = generator.catalog(), []
    for shot_id, takes in plan.takes.items():
        for take in takes:
            if take.model not in catalog:
                problems.append(f"shot {shot_id!r}, take {take.number}: unknown model {take.model!r} "
                                f"(known: {catalog.known()})")  # fmt: skip
            elif take.shot.end_image and not catalog.get(take.model).last_frame:
                problems.append(f"shot {shot_id!r}, take {take.number}: {take.model} cannot pin a last frame")
    return problems


class _Fanout:
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
                    found = TakeResult(take, clip, score_clip(self.store, request))
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


def _check_budget(planner: ClipPlanner, generator: VideoGenerator) -> float:
    """The estimate of this run; ``Failure`` before anything is submitted when it and what the campaign spent so
    far together would pass ``budget_usd``, which caps the campaign's total across runs."""
    campaign = planner.campaign
    cost = estimate(planner, clip_price(campaign.manifest.mode, generator),
                    partial(already_paid, planner.store, campaign.campaign_id))  # fmt: skip
    spent, budget = ledger.spent(planner.store, campaign.campaign_id), campaign.manifest.budget_usd
    if budget is not None and cost.takes and spent + cost.usd > budget:
        raise Failure(
            description=(
                f"campaign {campaign.campaign_id!r}: generating the {cost.takes} uncached take(s) is estimated at "
                f"${cost.usd:.2f}; with the ${spent:.2f} the campaign has already spent that is over budget_usd "
                f"${budget:.2f}; nothing was submitted"
            ),
            metadata={"estimate_usd": cost.usd, "spent_usd": spent, "budget_usd": budget, "uncached_takes": cost.takes},
        )
    return cost.usd


def _keep_choices(store: MediaStore, plan: Plan, config: GenerationConfig) -> None:
    """Keep the run config's picks and re-rolled takes for later runs (before anything is paid)."""
    campaign = plan.campaign
    choices = read_choices(store, campaign)
    reroll = config.reroll
    for shot in campaign.shots:
        stored = choices.get(shot.shot_id, ShotChoices())
        kept = stored.model_copy(deep=True)
        if shot.shot_id in config.picks:
            kept.pick = config.picks[shot.shot_id]
        if reroll is not None and reroll.shot == shot.shot_id:
            kept.rolled += [reroll.model or campaign.manifest.model] * reroll.takes
        if kept != stored:
            write_choices(store, campaign.campaign_id, shot.shot_id, kept)


def _run_lanes(planner: ClipPlanner, fanout: _Fanout, concurrency: int) -> dict[str, ShotResult]:
    """Every lane at once (and a shot's takes at once), up to ``concurrency`` each; ``Failure`` when the generator
    stopped, once the lanes in flight have wound down."""
    campaign = planner.campaign
    workers = max(1, concurrency)
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lane") as pool,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="take") as takes_pool,
    ):

        def map_takes(visit, takes: list[Take]) -> list[TakeResult]:
            return [visit(takes[0])] if len(takes) == 1 else list(takes_pool.map(visit, takes))

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


@campaign_asset(
    kinds={"generator", "ffmpeg"},  # the configured generator: xai or ffmpeg (see _common)
    code_version="2",  # 2: takes, scores beside the clips, picks
    pool="xai_video",
    check_specs=[FIRST_FRAMES_FAITHFUL],
    output_required=False,  # batch mode: not materialized while shots wait in an xAI batch
)
def generated_clips(
    context: AssetExecutionContext,
    config: GenerationConfig,
    source_images: SourceImages,
    hosted_images: HostedImages,
    store: MediaStore,
    generator: VideoGenerator,
):  # -> MaterializeResult[GeneratedClips]; with check specs Dagster rejects a return annotation
    """Every take of every shot in the store under its cache key, one picked per shot; failures recorded."""
    campaign = source_images.campaign
    plan = make_plan(campaign, read_choices(store, campaign), config.picks, config.reroll)
    problems = plan_problems(plan, config.picks, config.reroll) + model_problems(plan, generator)
    if problems:
        raise Failure(description=f"campaign {campaign.campaign_id!r}: {'; '.join(problems)}; nothing was submitted")
    planner = ClipPlanner(plan, source_images, hosted_images, store, generator.kind, host=partial(sign, store))
    cost = _check_budget(planner, generator)
    _keep_choices(store, plan, config)
    fanout = _Fanout(planner, generator, context.log)
    shared_calls = 0
    # --- batch mode (assets/batch_clips.py): waiting shots leave the asset unmaterialized for the batch sensor
    if campaign.manifest.mode == "batch" and isinstance(generator, XaiVideoGenerator):
        step = BatchStep(planner, generator, fanout.from_store, context.log, os.environ)
        try:
            found = step.run()
        except GeneratorStopped as exc:
            raise Failure(description=f"campaign {campaign.campaign_id!r}: generation stopped: {exc}") from None
        if found.waiting:
            waiting = "; ".join(f"{shot}: {why}" for shot, why in found.waiting.items())
            context.log.info(f"campaign {campaign.campaign_id!r}: waiting for xAI batch results ({waiting})")
            yield AssetCheckResult(
                check_name=FIRST_FRAMES_FAITHFUL.name, passed=True, severity=AssetCheckSeverity.WARN,
                description="not evaluated yet: shots are waiting in an xAI batch", metadata={"waiting": waiting},
            )  # fmt: skip
            return
        results, shared_calls = found.results, step.batches.tally.api_calls
    # --- end of batch mode
    else:
        results = _run_lanes(planner, fanout, generator.concurrency)
    previews = {t.clip.cache_key: t.stored.preview for r in results.values() for t in r.takes if t.stored}
    clips = settle(plan, results)
    yield materialize_clips(campaign.campaign_id, generator.kind, clips, previews, store, cost, shared_calls)
