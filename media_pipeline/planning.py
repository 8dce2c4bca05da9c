"""How a campaign's shots become generator requests: takes, lanes, cache keys, and the one walk over the lanes.

Each shot is made as one or more *takes* (``takes:`` in the manifest, plus the takes a re-roll added); every take is
its own clip with its own cache key, claim and journal entry, and one take per shot is picked for the deliverable.
Shots split into lanes: a shot with ``chain: true`` continues the lane of the shot before it, because it starts
from the exact last frame of that shot's picked take; every other shot starts a lane. Lanes run in parallel, the
shots of a lane in order.

A clip's cache key hashes everything that shapes it (generator, source pixels, pinned last frame, full prompt with
style, model, duration, resolution, aspect ratio; a silent clip, keyframes and reference images by their pixels
only when a shot asks for them; the take number from take 2 on), so the first take of a shot keeps the key its
clip had before takes existed, and a key already in the store is never paid for again.

``walk_lane`` is the one walk over a lane that the estimate (``estimate``), the run (``assets/generation.py``) and
batch mode (``assets/batch_clips.py``) share: each gives a ``Visitor`` that decides what a take costs or does.
Requests are built complete; a chained take whose source clip is not made yet is priced from its ``ClipSpec``.
No Dagster here: hosting a new last frame and signing URLs are handed in by the caller.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from .campaign import Campaign, ResolvedShot
from .clip_request import ClipRequest, ClipSpec, KeyframeImage, ShotFailed
from .media.files import file_digest
from .media.frames import extract_frame
from .records import HostedImage, HostedImages, SourceImages

if TYPE_CHECKING:
    from .resources.store import MediaStore

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Take:
    """One take of a shot: its number (1, 2, ...) and model; ``rolled`` when a re-roll added it."""

    shot: ResolvedShot
    number: int
    model: str
    rolled: bool = False


@dataclass(frozen=True)
class Plan:
    """What a run makes: every shot's takes, the picks made by hand, and the shots whose takes may be paid for
    (``None``: all; a re-roll pays only for its shot and the shots chained after it)."""

    campaign: Campaign
    takes: dict[str, list[Take]]
    picks: dict[str, int]
    generate: frozenset[str] | None = None

    def may_generate(self, shot: ResolvedShot) -> bool:
        return self.generate is None or shot.shot_id in self.generate


def shot_takes(campaign: Campaign, shot: ResolvedShot, rolled: Iterable[str] = ()) -> list[Take]:
    """The takes of ``shot``: the manifest's (one on the campaign's model by default), then the re-rolled ones."""
    models = [(model, False) for model in shot.takes or [campaign.manifest.model]]
    models += [(model, True) for model in rolled]
    return [Take(shot, number, model, rolled) for number, (model, rolled) in enumerate(models, start=1)]


def lanes(shots: list[ResolvedShot]) -> list[list[ResolvedShot]]:
    """Group shots into lanes: each chained shot joins the lane of the shot before it."""
    grouped: list[list[ResolvedShot]] = []
    for shot in shots:
        if shot.chain and grouped:
            grouped[-1].append(shot)
        else:
            grouped.append([shot])
    return grouped


def lane_after(shots: list[ResolvedShot], shot_id: str) -> list[str]:
    """``shot_id`` and the shots chained after it: what a new take of ``shot_id`` can change."""
    for lane in lanes(shots):
        ids = [s.shot_id for s in lane]
        if shot_id in ids:
            return ids[ids.index(shot_id) :]
    return []


def cache_key(
    generator: str,
    source_sha: str,
    end_sha: str | None,
    prompt: str,
    campaign: Campaign,
    take: Take,
    extras: dict[str, object] | None = None,
) -> str:
    """The content address of a clip: same inputs, same key, same stored clip. ``extras``: the options a shot sets
    beyond the defaults (absent at their defaults, so a default clip keeps its key); the take number from 2 on."""
    parts: dict[str, object] = {
        "generator": generator,
        "source": source_sha,
        "end": end_sha,
        "prompt": prompt,
        "model": take.model,
        "duration": take.shot.duration,
        "resolution": campaign.manifest.resolution,
        "aspect_ratio": campaign.manifest.aspect_ratio,
        **(extras or {}),
    }
    if take.number > 1:
        parts["take"] = take.number
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class ClipPlanner:
    """Builds the request of each take, resolving its source (a dropped image or the previous clip's last frame).

    ``host`` hosts a stored last frame for a chained shot (``sign`` in ``assets/hosting.py``); without it the
    planner is a dry run that stores nothing (the estimate).
    """

    def __init__(
        self,
        plan: Plan,
        sources: SourceImages,
        hosted: HostedImages,
        store: MediaStore,
        generator_kind: str,
        host: Callable[[str, str], HostedImage] | None = None,
    ):
        self.plan = plan
        self.campaign = plan.campaign
        self.sources = sources
        self.hosted = hosted
        self.store = store
        self.generator_kind = generator_kind
        self.host = host
        self._frames: dict[str, HostedImage] = {}
        self._lock = threading.Lock()

    def _where(self, shot: ResolvedShot) -> str:
        return f"campaign {self.campaign.campaign_id!r}, shot {shot.shot_id!r}"

    def _dropped(self, shot: ResolvedShot, file: str) -> HostedImage:
        hosted = self.hosted.images.get(file)
        if hosted is None:
            error = self.sources.files[file].error or "it was not hosted"
            raise ShotFailed(f"{self._where(shot)}: source file {file} is unusable: {error}")
        return hosted

    def last_frame_of(self, clip_key: str) -> HostedImage:
        """The exact last frame of a stored clip, stored and hosted like a source image (once per clip)."""
        with self._lock:
            if clip_key in self._frames:
                return self._frames[clip_key]
        with tempfile.TemporaryDirectory(prefix="chain-") as tmp, self.store.local_file(clip_key) as clip:
            frame = extract_frame(clip, Path(tmp) / "last.png", which="last")
            sha = file_digest(frame)
            key = f"sources/{sha}.png"
            if self.host is not None:
                self.store.put_file(key, frame, skip_if_exists=True)
        hosted = HostedImage(key=key, sha256=sha) if self.host is None else self.host(key, sha)
        with self._lock:
            self._frames[clip_key] = hosted
        return hosted

    def source(self, shot: ResolvedShot, previous_clip_key: str | None) -> HostedImage:
        """Where the shot starts: its image, or for a chained shot the previous shot's picked clip's last frame."""
        if not shot.chain:
            assert shot.image is not None  # the manifest requires an image on a shot that is not chained
            return self._dropped(shot, shot.image)
        if previous_clip_key is None:
            raise ShotFailed(f"{self._where(shot)}: chained to the previous shot, which has no clip")
        return self.last_frame_of(previous_clip_key)

    def spec(self, take: Take) -> ClipSpec:
        """What ``take`` asks for apart from its source (``ShotFailed`` when an image it pins is unusable)."""
        shot, manifest = take.shot, self.campaign.manifest
        end = self._dropped(shot, shot.end_image) if shot.end_image else None
        return ClipSpec(
            prompt=self.campaign.full_prompt(shot),
            model=take.model,
            duration=shot.duration,
            resolution=manifest.resolution,
            aspect_ratio=manifest.aspect_ratio,
            last_frame_key=end.key if end else None,
            generate_audio=shot.audio,
            keyframes=tuple(
                KeyframeImage(key=self._dropped(shot, k.image).key, timestamp=k.timestamp) for k in shot.keyframes
            ),
            reference_keys=tuple(self._dropped(shot, name).key for name in shot.reference_images),
        )

    def request(self, take: Take, source: HostedImage) -> ClipRequest:
        """The complete request of ``take`` starting on ``source`` (URLs are added at submission: ``with_urls``)."""
        shot, spec = take.shot, self.spec(take)
        sha = self._sha256
        extras: dict[str, object] = {}
        if not shot.audio:
            extras["audio"] = False
        if spec.keyframes:
            extras["keyframes"] = [[sha(k.key), k.timestamp] for k in spec.keyframes]
        if spec.reference_keys:
            extras["references"] = [sha(key) for key in spec.reference_keys]
        end_sha = sha(spec.last_frame_key) if spec.last_frame_key else None
        key = cache_key(self.generator_kind, source.sha256, end_sha, spec.prompt, self.campaign, take, extras)
        return ClipRequest(
            **spec.model_dump(),
            campaign=self.campaign.campaign_id,
            shot=shot.shot_id,
            take=take.number,
            cache_key=key,
            image_key=source.key,
            image_url="",
            hosting=self.campaign.manifest.hosting,
        )

    def _sha256(self, key: str) -> str:
        return next(h.sha256 for h in self.hosted.images.values() if h.key == key)

    def with_urls(self, request: ClipRequest, url: Callable[[HostedImage], str]) -> ClipRequest:
        """``request`` ready to submit, each image's URL from ``url``; made only for takes that are generated, so
        cached takes cost no signing or encoding."""
        with self._lock:
            hosted = {h.key: h for h in [*self.hosted.images.values(), *self._frames.values()]}
        last = request.last_frame_key
        return request.model_copy(
            update={
                "image_url": url(hosted[request.image_key]),
                "last_frame_url": url(hosted[last]) if last else None,
                "keyframes": tuple(k.model_copy(update={"url": url(hosted[k.key])}) for k in request.keyframes),
                "reference_urls": tuple(url(hosted[key]) for key in request.reference_keys),
            }
        )


class Visitor(Protocol[T, R]):
    """What one use of the walk does with each take, and how it settles a shot from its takes."""

    def take(self, take: Take, request: ClipRequest) -> T:
        """A take whose request is known."""

    def unbuildable(self, take: Take, error: ShotFailed) -> T:
        """A take whose request cannot be built (an unusable image): it fails before anything is paid."""

    def blocked(self, take: Take, spec: ClipSpec, after: ResolvedShot) -> T:
        """A chained take whose source, the picked clip of shot ``after``, is not there (yet)."""

    def shot(self, shot: ResolvedShot, takes: list[T]) -> tuple[R, str | None]:
        """The shot's result from its takes, and the clip key its picked take leaves for a chained shot."""


def _in_order(visit: Callable[[Take], T], takes: list[Take]) -> list[T]:
    return [visit(take) for take in takes]


def _visit(planner: ClipPlanner, visitor: Visitor[T, R], source: HostedImage, take: Take) -> T:
    try:
        return visitor.take(take, planner.request(take, source))
    except ShotFailed as exc:
        return visitor.unbuildable(take, exc)


def _blocked(planner: ClipPlanner, visitor: Visitor[T, R], after: ResolvedShot, take: Take) -> T:
    try:
        return visitor.blocked(take, planner.spec(take), after)
    except ShotFailed as exc:
        return visitor.unbuildable(take, exc)


def walk_lane(
    planner: ClipPlanner,
    lane: list[ResolvedShot],
    visitor: Visitor[T, R],
    map_takes: Callable[[Callable[[Take], T], list[Take]], list[T]] = _in_order,
) -> list[R]:
    """Visit the takes of each shot of ``lane`` in order (``map_takes`` may run one shot's takes at once) and
    settle each shot before the next, which may start from its picked clip."""
    results: list[R] = []
    previous: tuple[ResolvedShot, str | None] | None = None
    for shot in lane:
        takes = planner.plan.takes[shot.shot_id]
        if shot.chain and previous is not None and previous[1] is None:
            outcomes = [_blocked(planner, visitor, previous[0], take) for take in takes]
        else:
            try:
                source = planner.source(shot, previous[1] if previous else None)
            except ShotFailed as exc:
                outcomes = [visitor.unbuildable(take, exc) for take in takes]
            else:
                outcomes = map_takes(functools.partial(_visit, planner, visitor, source), takes)
        result, clip_key = visitor.shot(shot, outcomes)
        results.append(result)
        previous = (shot, clip_key)
    return results


def walk(planner: ClipPlanner, visitor: Visitor[T, R]) -> list[R]:
    """Every lane in turn (the run goes through the lanes in parallel with ``walk_lane``)."""
    return [result for lane in lanes(planner.campaign.shots) for result in walk_lane(planner, lane, visitor)]
