"""``generated_clips``: one clip per shot through the ``VideoGenerator``, fanned out, cached, costed.

Lanes (see ``clip_plan``) run in parallel up to the generator's concurrency; the asset also sits in the
``xai_video`` pool so concurrent runs share the account's cap. A shot that fails is recorded with its error and the
others go on; what was generated (and paid for) is in the store at once and is a cache hit on the next run. Only a
stop of the whole generator (bad credentials) fails the step, after the lanes in flight have wound down.
"""


import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from dagster import AssetExecutionContext, DataVersion, Failure, MaterializeResult, asset

from ..campaign import ResolvedShot
from ..checks import FIRST_FRAMES_FAITHFUL, first_frames_faithful
from ..media.quality import first_frame_fidelity
from ..partitions import campaign_partitions
from ..records import GeneratedClips, HostedImages, ShotClip, SourceImages
from ..resources.generator import ClipRequest, GeneratorStopped, ShotFailed, VideoGenerator
from ..resources.io_manager import read_record
from ..resources.storage import MediaStore
from .clip_plan import ClipPlanner, lanes
from .metadata import digest, shot_table


class _Fanout:
    """Runs the lanes of one campaign; one instance per materialization."""

    def __init__(self, planner: ClipPlanner, log: logging.Logger, known_fidelity: dict[str, float]):
        self.planner = planner
        self.known_fidelity = known_fidelity
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
                if self.planner.is_cached(request.cache_key):
                    clip = ShotClip(shot=shot.shot_id, status="cached", clip_key=request.clip_key)
                else:
                    outcome = self.generator.generate(self.planner.with_urls(request), self.store, self.log)
                    clip = ShotClip(**outcome.model_dump())
            clip.cache_key = request.cache_key
            clip.source_key = request.image_key
            known = self.known_fidelity.get(request.cache_key) if clip.status == "cached" else None
            clip.fidelity = known if known is not None else self.fidelity(request)
            return clip
        except GeneratorStopped:
            self.stopped.set()
            raise
        except Exception as exc:  # ShotFailed, or anything else (a store hiccup): this shot only, the rest go on
            error = str(exc) if isinstance(exc, ShotFailed) else f"{where}: {type(exc).__name__}: {exc}"
            self.log.error(error, exc_info=not isinstance(exc, ShotFailed))
            return ShotClip(shot=shot.shot_id, status="failed", error=error,
                            cache_key=request.cache_key if request else None)

    def fidelity(self, request: ClipRequest) -> float:
        """SSIM of the clip's first frame against the image it was asked to start on."""
        with self.store.local_file(request.clip_key) as clip, self.store.local_file(request.image_key) as image:
            return first_frame_fidelity(clip, image)


def _known_fidelity(store: MediaStore, campaign_id: str) -> dict[str, float]:
    """First-frame scores from the last materialization, by cache key: a stored clip never changes, so a cache
    hit keeps its score instead of being fetched and decoded again on every run."""
    try:
        previous = read_record(store, "generated_clips", campaign_id, GeneratedClips)
    except KeyError:
        return {}
    return {c.cache_key: c.fidelity for c in previous.clips if c.cache_key and c.fidelity is not None}


def _check_budget(campaign_id: str, budget: float | None, planner: ClipPlanner) -> float:
    estimate, shots = planner.estimate()
    if budget is not None and estimate > budget:
        raise Failure(
            description=(
                f"campaign {campaign_id!r}: generating the {shots} uncached shot(s) is estimated at "
                f"${estimate:.2f}, over budget_usd ${budget:.2f}; nothing was submitted"
            ),
            metadata={"estimate_usd": estimate, "budget_usd": budget, "uncached_shots": shots},
        )
    return estimate


def _metadata(record: GeneratedClips, estimate: float) -> dict:
    clips = record.clips
    prefix = record.generator
    return {
        f"{prefix}.calls": sum(c.api_calls for c in clips),
        f"{prefix}.cost_usd": round(sum(c.cost_usd for c in clips), 4),
        f"{prefix}.video_seconds": round(sum(c.video_seconds for c in clips), 3),
        f"{prefix}.cache_hits": sum(1 for c in clips if c.cache_hit),
        "estimate_usd": round(estimate, 4),
        "clips.generated": sum(1 for c in clips if c.status == "generated"),
        "clips.failed": len(record.failed),
        "shots": shot_table(
            [{"shot": c.shot, "status": c.status, "request_id": c.request_id or "", "latency_s": round(c.latency_s, 2),
              "cost_usd": round(c.cost_usd, 4), "ssim": "" if c.fidelity is None else round(c.fidelity, 3),
              "clip": c.clip_key or "", "error": c.error or ""} for c in clips]
        ),
    }


@asset(
    partitions_def=campaign_partitions,
    group_name="media",
    kinds={"xai", "ffmpeg"},
    code_version="1",
    io_manager_key="records_io_manager",
    pool="xai_video",
    check_specs=[FIRST_FRAMES_FAITHFUL],
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
    estimate = _check_budget(campaign.campaign_id, campaign.manifest.budget_usd, planner)
    fanout = _Fanout(planner, context.log, _known_fidelity(store, campaign.campaign_id))
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
    order = {shot.shot_id: shot.index for shot in campaign.shots}
    record = GeneratedClips(
        campaign=campaign.campaign_id, generator=generator.kind, clips=sorted(done, key=lambda c: order[c.shot])
    )
    return MaterializeResult(
        value=record,
        data_version=DataVersion(digest(c.cache_key or c.status for c in record.clips)),
        check_results=[first_frames_faithful(record)],
        metadata=_metadata(record, estimate),
    )
