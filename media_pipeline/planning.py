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
batch mode (``assets/batch_clips.py``) share: each gives a ``Visitor`` that decides what a take costs or does,
and the ``clip_planner.ClipPlanner`` builds each take's request, complete; a chained take whose source clip is
not made yet is priced from its ``ClipSpec``. No Dagster here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from .campaign import Campaign
from .clip_request import ClipRequest, ClipSpec, ShotFailed
from .records import HostedImage
from .resources.xai.catalog import catalog_from_env
from .shots import ResolvedShot

if TYPE_CHECKING:
    from .clip_planner import ClipPlanner

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


def _key_model(model: str) -> str:
    """One name per model in cache keys (an alias and its id make the same clip); an unknown name as written."""
    catalog = catalog_from_env(os.environ)
    return catalog.get(model).key_name if model in catalog else model


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
        "model": _key_model(take.model),
        "duration": take.shot.duration,
        "resolution": campaign.manifest.resolution,
        "aspect_ratio": campaign.manifest.aspect_ratio,
        **(extras or {}),
    }
    if take.number > 1:
        parts["take"] = take.number
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


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
