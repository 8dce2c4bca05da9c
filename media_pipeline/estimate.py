"""What a run would pay, before anything is paid: the walk over the lanes (``planning.walk``) with a visitor that
prices each take the run would make.

A take is priced when its clip is neither in the store nor paid for in the journal (a journaled request is finished
at no cost) and its shot may be generated in this run (a re-roll pays for its shot and the shots chained after it
only); identical takes share one clip and one payment. A chained take whose source is not made yet is priced from
its spec. A shot whose takes all have clips continues its chain from the take the run would pick, read from the
scores stored beside the clips. ``runner.estimate_campaign`` (``media-pipeline estimate``) and the budget check of
``generated_clips`` both use ``estimate``. No Dagster here: pricing and the journal are handed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .clip_planner import ClipPlanner
from .clip_request import ClipRequest, ClipSpec, ShotFailed
from .picks import TakeResult, first_pick, picked_clip_key
from .planning import Take, walk
from .records import ShotClip
from .shots import ResolvedShot
from .takes import read_scores


@dataclass
class Estimate:
    """The cost of the takes a run would make, how many, and of which shots (each shot's takes and cost)."""

    usd: float = 0.0
    takes: int = 0
    shots: set[str] = field(default_factory=set)
    takes_by_shot: dict[str, int] = field(default_factory=dict)
    usd_by_shot: dict[str, float] = field(default_factory=dict)


class _Pricing:
    """The estimate's ``planning.Visitor``: a take is its stored clip key, or None when the run would make it."""

    def __init__(self, planner: ClipPlanner, price: Callable[[ClipSpec], float], paid: Callable[[str], bool]):
        self.planner, self.price, self.paid = planner, price, paid
        self.store = planner.store
        self.planned: set[str] = set()
        self.total = Estimate()

    def _add(self, take: Take, spec: ClipSpec) -> None:
        usd, shot_id = self.price(spec), take.shot.shot_id
        self.total.usd += usd
        self.total.takes += 1
        self.total.shots.add(shot_id)
        self.total.takes_by_shot[shot_id] = self.total.takes_by_shot.get(shot_id, 0) + 1
        self.total.usd_by_shot[shot_id] = self.total.usd_by_shot.get(shot_id, 0.0) + usd

    def take(self, take: Take, request: ClipRequest) -> tuple[Take, ClipRequest | None]:
        if self.store.exists(request.clip_key):
            return take, request
        if self.planner.plan.may_generate(take.shot) and request.cache_key not in self.planned:
            self.planned.add(request.cache_key)
            if not self.paid(request.cache_key):
                self._add(take, request)
        return take, None

    def unbuildable(self, take: Take, error: ShotFailed) -> tuple[Take, ClipRequest | None]:
        return take, None  # fails before submission, costs nothing

    def blocked(self, take: Take, spec: ClipSpec, after: ResolvedShot) -> tuple[Take, ClipRequest | None]:
        if self.planner.plan.may_generate(take.shot):
            self._add(take, spec)
        return take, None

    def shot(self, shot: ResolvedShot, takes: list[tuple[Take, ClipRequest | None]]) -> tuple[None, str | None]:
        """The picked take's clip when every take has a stored clip and scores (else a new take may change it)."""
        manual = self.planner.plan.picks.get(shot.shot_id)
        by_hand = next((r for t, r in takes if t.number == manual), None)
        if by_hand is not None:  # a pick by hand is delivered whenever its take has a clip
            return None, by_hand.clip_key
        if any(request is None for _, request in takes):
            return None, None
        if len(takes) == 1:
            return None, takes[0][1].clip_key  # type: ignore[union-attr]
        found = []
        for take, request in takes:
            assert request is not None
            stored = read_scores(self.store, request.clip_key, self.store.size(request.clip_key))
            if stored is None:  # scored by the run, which may pick another take
                return None, None
            record = ShotClip(shot=shot.shot_id, status="cached", clip_key=request.clip_key)
            found.append(TakeResult(take=take, clip=record, stored=stored))
        return None, picked_clip_key(first_pick(self.planner.plan, found))


def estimate(planner: ClipPlanner, price: Callable[[ClipSpec], float], paid: Callable[[str], bool]) -> Estimate:
    """The cost of the takes ``planner``'s plan would make (see the module's text); nothing is submitted."""
    pricing = _Pricing(planner, price, paid)
    walk(planner, pricing)
    return pricing.total
