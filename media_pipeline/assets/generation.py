"""``generated_clips``: one clip per shot through the ``VideoGenerator``, fanned out, cached, costed, healed.

Lanes (see ``clip_plan``) run in parallel up to the generator's concurrency; the asset also sits in the
``xai_video`` pool so concurrent runs share the account's cap, and the xAI generator claims each clip in the store
before paying for it, so concurrent runs pay once. A shot that fails is recorded with its error, its calls and its
cost, and the others go on; what was generated (and paid for) is in the store at once and is a cache hit on the next
run. A stored clip that does not decode is deleted and made again (``healed``). ``budget_usd`` caps the campaign's
spend across runs (the ledger) plus this run's estimate. Only a stop of the whole generator (bad credentials) fails
the step, after the lanes in flight have wound down. With ``mode: batch`` the shots go out as xAI batches instead
(``batch_clips``); shots still waiting in a batch leave the asset unmaterialized for the batch sensor.
"""

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, DataVersion, Failure, MaterializeResult

from ..campaign import ResolvedShot
from ..checks import FIRST_FRAMES_FAITHFUL, first_frames_faithful
from ..media.errors import MediaError
from ..media.frames import read_frame
from ..media.probe import probe
from ..media.quality import first_frame_fidelity
from ..records import GeneratedClips, HostedImages, ShotClip, SourceImages
from ..resources.generator import ClipRequest, GeneratorStopped, ShotFailed, VideoGenerator
from ..resources.io_manager import read_record
from ..resources.store import MediaStore
from ..resources.xai import ledger
from ..resources.xai.generator import XaiVideoGenerator
from ._common import campaign_asset
from .batch_clips import BatchStep
from .clip_plan import ClipPlanner, lanes
from .metadata import digest, shot_done, shot_table


class _Fanout:
    """Runs the lanes of one campaign; one instance per materialization."""

    def __init__(self, planner: ClipPlanner, log: logging.Logger, known: dict[str, ShotClip]):
        self.planner = planner
        self.known = known
        self.store = planner.store
        self.generator = planner.generator
        self.log = log
        self.stopped = threading.Event()
        self._claims: dict[str, threading.Lock] = {}
        self._claims_lock = threading.Lock()

    def _claim(self, cache_key: str) -> threading.Lock:
        """One lock per clip: identical shots take turns, so the second finds the first's clip, not the API."""
        with self._claims_lock:
            return self._claims.setdefault(cache_key, threading.Lock())

    def run_lane(self, lane: list[ResolvedShot]) -> list[ShotClip]:
        clips: list[ShotClip] = []
        previous: str | None = None
        for shot in lane:
            clip = self.run_shot(shot, previous)
            clips.append(clip)
            previous = clip.clip_key
        return clips

    def run_shot(self, shot: ResolvedShot, previous_clip_key: str | None) -> ShotClip:
        where = f"campaign {self.planner.campaign.campaign_id!r}, shot {shot.shot_id!r}"
        if self.stopped.is_set():
            return ShotClip(shot=shot.shot_id, status="failed", error=f"{where}: not attempted, the generator stopped")
        request: ClipRequest | None = None
        try:
            source = self.planner.source(shot, previous_clip_key)
            request = self.planner.request(shot, source)
            with self._claim(request.cache_key):
                clip, healed = self.from_store(request)
                if clip is None:
                    outcome = self.generator.generate(self.planner.with_urls(request), self.store, self.log)
                    clip = ShotClip(**outcome.model_dump())
                    clip.fidelity, clip.clip_bytes = self.inspect(request)
            clip.cache_key = request.cache_key
            clip.source_key = request.image_key
            clip.healed = healed
            self.log.info(shot_done(where, clip.status, clip.cost_usd))
            return clip
        except GeneratorStopped:
            self.stopped.set()
            raise
        except Exception as exc:  # ShotFailed, or anything else (a store hiccup): this shot only, the rest go on
            error = str(exc) if isinstance(exc, ShotFailed) else f"{where}: {type(exc).__name__}: {exc}"
            self.log.error(error, exc_info=not isinstance(exc, ShotFailed))
            spent = (
                {"api_calls": exc.api_calls, "cost_usd": exc.cost_usd, "request_id": exc.request_id}
                if isinstance(exc, ShotFailed)
                else {}
            )
            self.log.info(shot_done(where, "failed", spent.get("cost_usd", 0.0)))
            return ShotClip(
                shot=shot.shot_id, status="failed", error=error, cache_key=request.cache_key if request else None,
                **spent,
            )  # fmt: skip

    def from_store(self, request: ClipRequest) -> tuple[ShotClip | None, bool]:
        """The stored clip of ``request`` when it is good; (None, healed) when there is none or it is broken.

        A clip the last run knew, at the size it had then, is trusted without a download; any other stored clip
        is fetched and decoded first and last frame. One that does not decode is deleted, to be made again.
        """
        size = self.store.size(request.clip_key)
        if size is None:
            return None, False
        clip = ShotClip(shot=request.shot, status="cached", clip_key=request.clip_key, clip_bytes=size)
        known = self.known.get(request.cache_key)
        if known is not None and known.clip_bytes == size and known.fidelity is not None:
            clip.fidelity = known.fidelity
            return clip, False
        try:
            clip.fidelity, clip.clip_bytes = self.inspect(request, whole=True)
        except MediaError as exc:
            self.log.warning(
                "%s: the stored clip %s does not decode (%s); removing it and making it again",
                request.where, request.clip_key, exc,
            )  # fmt: skip
            self.store.delete(request.clip_key)
            return None, True
        return clip, False

    def inspect(self, request: ClipRequest, *, whole: bool = False) -> tuple[float, int]:
        """SSIM of the clip's first frame against the image it was asked to start on, and the clip's size; with
        ``whole``, the clip is also probed and decoded to its last frame (``MediaError`` when it does not)."""
        with self.store.local_file(request.clip_key) as clip, self.store.local_file(request.image_key) as image:
            if whole:
                probe(clip, request.where)
                read_frame(clip, "last")
            return first_frame_fidelity(clip, image), clip.stat().st_size


def _known_clips(store: MediaStore, campaign_id: str) -> dict[str, ShotClip]:
    """The clips of the last materialization, by cache key: a stored clip at the size it had then keeps its
    first-frame score instead of being fetched and decoded again on every run."""
    try:
        previous = read_record(store, "generated_clips", campaign_id, GeneratedClips)
    except KeyError:
        return {}
    return {c.cache_key: c for c in previous.clips if c.cache_key and c.status != "failed"}


def _check_budget(campaign_id: str, budget: float | None, planner: ClipPlanner) -> tuple[float, float]:
    """(estimate of this run, spent by the campaign so far); ``Failure`` before anything is submitted when the two
    together would pass ``budget_usd``, which caps the campaign's total across runs."""
    estimate, shots = planner.estimate()
    spent = ledger.spent(planner.store, campaign_id)
    if budget is not None and shots and spent + estimate > budget:
        raise Failure(
            description=(
                f"campaign {campaign_id!r}: generating the {shots} uncached shot(s) is estimated at "
                f"${estimate:.2f}; with the ${spent:.2f} the campaign has already spent that is over budget_usd "
                f"${budget:.2f}; nothing was submitted"
            ),
            metadata={"estimate_usd": estimate, "spent_usd": spent, "budget_usd": budget, "uncached_shots": shots},
        )
    return estimate, spent


def _metadata(record: GeneratedClips, estimate: float, spent: float) -> dict:
    clips = record.clips
    prefix = record.generator
    return {
        f"{prefix}.calls": sum(c.api_calls for c in clips),
        f"{prefix}.cost_usd": round(sum(c.cost_usd for c in clips), 4),
        f"{prefix}.submits": sum(c.submits for c in clips),
        f"{prefix}.uncertain_submits": sum(c.uncertain_submits for c in clips),
        f"{prefix}.video_seconds": round(sum(c.video_seconds for c in clips), 3),
        f"{prefix}.cache_hits": sum(1 for c in clips if c.cache_hit),
        "estimate_usd": round(estimate, 4),
        "campaign_spent_usd": round(spent, 4),
        "clips.generated": sum(1 for c in clips if c.status == "generated"),
        "clips.failed": len(record.failed),
        "clips.healed": sum(1 for c in clips if c.healed),
        "shots": shot_table(
            [
                {
                    "shot": c.shot,
                    "status": c.status,
                    "request_id": c.request_id or "",
                    "latency_s": round(c.latency_s, 2),
                    "calls": c.api_calls,
                    "cost_usd": round(c.cost_usd, 4),
                    "healed": "yes" if c.healed else "",
                    "ssim": "" if c.fidelity is None else round(c.fidelity, 3),
                    "clip": c.clip_key or "",
                    "error": c.error or "",
                }
                for c in clips
            ]
        ),
    }


@campaign_asset(
    kinds={"generator", "ffmpeg"},  # the configured generator: xai or ffmpeg (see _common)
    code_version="1",
    pool="xai_video",
    check_specs=[FIRST_FRAMES_FAITHFUL],
    output_required=False,  # batch mode: not materialized while shots wait in an xAI batch
)
def generated_clips(
    context: AssetExecutionContext,
    source_images: SourceImages,
    hosted_images: HostedImages,
    store: MediaStore,
    generator: VideoGenerator,
):  # -> MaterializeResult[GeneratedClips]; with check specs Dagster rejects a return annotation
    """One clip per shot, in the store under its cache key; failed shots recorded with their errors."""
    campaign = source_images.campaign
    planner = ClipPlanner(source_images, hosted_images, store, generator)
    estimate, _ = _check_budget(campaign.campaign_id, campaign.manifest.budget_usd, planner)
    fanout = _Fanout(planner, context.log, _known_clips(store, campaign.campaign_id))
    # --- batch mode (assets/batch_clips.py): waiting shots leave the asset unmaterialized for the batch sensor
    if campaign.manifest.mode == "batch" and isinstance(generator, XaiVideoGenerator):
        step = BatchStep(planner, fanout.from_store, context.log, os.environ)
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
        yield _materialize(campaign, generator, found.clips, estimate, store, step.batches.tally.api_calls)
        return
    # --- end of batch mode
    with ThreadPoolExecutor(max_workers=max(1, generator.concurrency), thread_name_prefix="shot") as pool:
        futures = [pool.submit(fanout.run_lane, lane) for lane in lanes(campaign.shots)]
        done: list[ShotClip] = []
        stop: GeneratorStopped | None = None
        for future in futures:
            try:
                done.extend(future.result())
            except GeneratorStopped as exc:
                stop = stop or exc
    if stop is not None:
        raise Failure(description=f"campaign {campaign.campaign_id!r}: generation stopped: {stop}")
    yield _materialize(campaign, generator, done, estimate, store)


def _materialize(campaign, generator: VideoGenerator, done: list[ShotClip], estimate: float, store: MediaStore,
                 shared_calls: int = 0) -> MaterializeResult:  # fmt: skip
    """The record in shot order; ``shared_calls`` (a batch's calls, made for the campaign) go on the first shot."""
    order = {shot.shot_id: shot.index for shot in campaign.shots}
    clips = sorted(done, key=lambda c: order[c.shot])
    if clips and shared_calls:
        clips[0].api_calls += shared_calls
    record = GeneratedClips(campaign=campaign.campaign_id, generator=generator.kind, clips=clips)
    return MaterializeResult(
        value=record,
        data_version=DataVersion(digest(c.cache_key or c.status for c in record.clips)),
        check_results=[first_frames_faithful(record)],
        metadata=_metadata(record, estimate, ledger.spent(store, campaign.campaign_id)),
    )
