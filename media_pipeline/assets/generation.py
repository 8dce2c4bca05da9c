"""``generated_clips``: every take of every shot through the ``VideoGenerator``, scored, one take picked per shot.

The plan (``planning``, ``takes``) lists each shot's takes, checked before anything is paid (picks that name no
take, models the catalog does not know); the lanes run in parallel up to the generator's concurrency (a shot's
takes at once, too) through ``planning.walk_lane``, the walk the estimate uses (``fanout``). The asset sits in the
``xai_video`` pool so concurrent runs share the account's cap, and the xAI generator claims each clip in the store
before paying for it, so concurrent runs pay once. What was generated (and paid for) is in the store at once and is
a cache hit on the next run, its scores beside it (``clips/<key>.scores.json``). The best take is picked
(``picks``), or the one picked by hand. ``budget_usd`` caps the campaign's spend across runs
(the ledger) plus this run's estimate. Only a stop of the whole generator (bad credentials) fails the step, after
the lanes in flight have wound down. With ``mode: batch`` the takes go out as xAI batches (``batch_clips``).

Run config (the Launchpad): ``picks`` (shot -> take) changes the delivered take without paying for anything and is
kept for later runs; ``reroll_shot`` (with ``reroll_takes``, ``reroll_model``) adds takes to one shot and pays for
those alone.
"""

import os
from functools import partial

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, Config, Failure
from pydantic import Field

from ..checks import FIRST_FRAMES_FAITHFUL
from ..clip_planner import ClipPlanner
from ..estimate import estimate
from ..picks import settle
from ..planning import Plan
from ..records import HostedImages, SourceImages
from ..resources.generator import GeneratorStopped, VideoGenerator
from ..resources.store import MediaStore
from ..resources.xai import ledger
from ..resources.xai.batch import batch_price_usd
from ..resources.xai.generator import XaiVideoGenerator
from ..resources.xai.journal import journal_key, read_entry
from ..takes import Reroll, ShotChoices, make_plan, plan_problems, read_choices, write_choices
from ._common import campaign_asset
from .batch_clips import BatchStep
from .fanout import Fanout, run_lanes
from .hosting import sign
from .metadata import materialize_clips


class GenerationConfig(Config):
    """What the Launchpad can ask of one run of ``generated_clips``."""

    picks: dict[str, int] = Field(
        default_factory=dict,
        description="shot -> take to deliver, kept for later runs (0: the scores pick again); pays for nothing",
    )
    reroll_shot: str | None = Field(default=None, description="a shot to make new takes of; pays for those only")
    reroll_takes: int = Field(  # 1-8, checked by plan_problems so the refusal names the campaign and shot
        default=1, description="how many new takes reroll_shot gets (1-8)"
    )
    reroll_model: str | None = Field(default=None, description="the new takes' model (default: the campaign's)")

    def reroll(self, run_id: str) -> Reroll | None:
        """The re-roll asked for, by the run ``run_id`` (a retry of a run passes the first run's id)."""
        if self.reroll_shot is None:
            return None
        return Reroll(shot=self.reroll_shot, takes=self.reroll_takes, model=self.reroll_model, id=run_id)


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


def _keep_choices(store: MediaStore, plan: Plan, picks: dict[str, int], reroll: Reroll | None) -> None:
    """Keep the run config's picks and re-rolled takes for later runs (before anything is paid)."""
    campaign = plan.campaign
    choices = read_choices(store, campaign)
    for shot in campaign.shots:
        stored = choices.get(shot.shot_id, ShotChoices())
        kept = stored.model_copy(deep=True)
        if reroll is not None and reroll.adds_to(shot.shot_id, stored):
            kept.rolled += reroll.models(campaign)
            kept.rolls.append(reroll.id)
            kept.pick = None  # the new takes compete: the scores pick again (see takes.make_plan)
        if shot.shot_id in picks:
            kept.pick = picks[shot.shot_id] or None  # 0: back to the pick by the scores
        if kept != stored:
            write_choices(store, campaign.campaign_id, shot.shot_id, kept)


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
    reroll = config.reroll(context.run.root_run_id or context.run.run_id)
    plan = make_plan(campaign, read_choices(store, campaign), config.picks, reroll)
    problems = plan_problems(plan, config.picks, reroll) + model_problems(plan, generator)
    if problems:
        raise Failure(description=f"campaign {campaign.campaign_id!r}: {'; '.join(problems)}; nothing was submitted")
    planner = ClipPlanner(plan, source_images, hosted_images, store, generator.kind, host=partial(sign, store))
    cost = _check_budget(planner, generator)
    _keep_choices(store, plan, config.picks, reroll)
    fanout = Fanout(planner, generator, context.log)
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
        results = run_lanes(planner, fanout, generator.concurrency)
    previews = {t.clip.cache_key: t.stored.preview for r in results.values() for t in r.takes if t.stored}
    clips = settle(plan, results)
    yield materialize_clips(campaign.campaign_id, generator.kind, clips, previews, store, cost, shared_calls)
