"""Which take of each shot is delivered, and the shot's record made from its takes.

A shot's takes are settled in two steps. In its lane, ``first_pick`` chooses on each take's own measures (first and
pinned last frame, frozen and black stretches): a chained shot starts from that take's last frame. Once every lane
is done, ``settle`` makes the final pick of each shot that no chained shot follows, with the colour distance to the
neighbouring shots' first picks counted too (``media.scoring.with_neighbours``); a shot a chain follows keeps its
first pick, since the chain was made from it. A pick by hand (run config, manifest ``pick``, stored) wins whenever
its take has a clip. The reason is kept in the record either way.

No Dagster here: records and scores in, records out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .media.scoring import ColourSignature, TakeScores, best_take, with_neighbours
from .planning import Plan, Take
from .records import ShotClip
from .takes import StoredScores

SUMMED = ("cost_usd", "api_calls", "submits", "uncertain_submits", "video_seconds")  # over a shot's takes


@dataclass
class TakeResult:
    """One take as a run found or made it: its record, and its stored scores when it has a clip."""

    take: Take
    clip: ShotClip
    stored: StoredScores | None = None


@dataclass
class ShotResult:
    """A shot's takes and its first pick (see the module's text)."""

    takes: list[TakeResult]
    first: int | None = None
    reason: str = ""


def _scored(takes: Sequence[TakeResult]) -> list[tuple[int, TakeScores | None]]:
    return [(t.take.number, t.stored.scores if t.stored else None) for t in takes]


def first_pick(plan: Plan, takes: list[TakeResult]) -> ShotResult:
    """The shot's first pick, on each take's own measures."""
    number, reason = _pick([(n, s and with_neighbours(s, [])) for n, s in _scored(takes)], _manual(plan, takes))
    return ShotResult(takes=takes, first=number, reason=reason)


def picked_clip_key(result: ShotResult) -> str | None:
    """The clip a chained shot starts from: the first pick's."""
    return next((t.clip.clip_key for t in result.takes if t.take.number == result.first), None)


def _manual(plan: Plan, takes: list[TakeResult]) -> int | None:
    return plan.picks.get(takes[0].take.shot.shot_id) if takes else None


def _pick(scored: Sequence[tuple[int, TakeScores | None]], manual: int | None) -> tuple[int | None, str]:
    made = [(n, s) for n, s in scored if s is not None]
    missing = [n for n, s in scored if s is None]
    if manual is not None and manual in dict(made):
        return manual, f"take {manual} picked by hand"
    if not made:
        return None, "no take has a clip"
    index, reason = best_take([s for _, s in made])
    numbers = [n for n, _ in made]  # best_take names takes by their place in its list
    reason = re.sub(r"\btake (\d+)\b", lambda m: f"take {numbers[int(m.group(1)) - 1]}", reason)
    if manual is not None:
        reason = f"take {manual} was picked by hand but has no clip; {reason}"
    if missing:
        reason += f" (no clip: take {', '.join(map(str, missing))})"
    return made[index][0], reason


def settle(plan: Plan, results: dict[str, ShotResult]) -> list[ShotClip]:
    """Every shot's record in delivery order, with its final pick; each take's scores count the colour distance to
    the neighbouring shots' first picks."""
    shots = plan.campaign.shots
    signatures: dict[str, ColourSignature] = {}
    for shot_id, result in results.items():
        picked = next((t for t in result.takes if t.take.number == result.first), None)
        if picked is not None and picked.stored is not None:
            signatures[shot_id] = picked.stored.scores.colour
    records = []
    for index, shot in enumerate(shots):
        result = results[shot.shot_id]
        around = [shots[i].shot_id for i in (index - 1, index + 1) if 0 <= i < len(shots)]
        neighbours = [signatures[s] for s in around if s in signatures]
        scored = [(n, s and with_neighbours(s, neighbours)) for n, s in _scored(result.takes)]
        number, reason = result.first, result.reason
        if len(result.takes) > 1 and index + 1 < len(shots) and shots[index + 1].chain:
            reason += "; kept: the next shot is chained to it"
        elif len(result.takes) > 1:
            number, reason = _pick(scored, _manual(plan, result.takes))
        records.append(_shot_record(result.takes, dict(scored), number, reason))
    return records


def _take_record(result: TakeResult, scores: TakeScores | None) -> ShotClip:
    """One take's record with its scores (the colour signature left in the store)."""
    clip = result.clip.model_copy(update={"take": result.take.number, "model": result.take.model})
    if scores is not None:
        clip.fidelity = scores.first_frame_ssim
        clip.scores = {
            "overall": scores.overall,
            "first_frame_ssim": scores.first_frame_ssim,
            "last_frame_ssim": scores.last_frame_ssim,
            "frozen_seconds": scores.frozen_seconds,
            "black_seconds": scores.black_seconds,
            "colour_distance": scores.colour_distance,
        }
    return clip


def _shot_record(
    takes: list[TakeResult], scores: dict[int, TakeScores | None], number: int | None, reason: str
) -> ShotClip:
    """The shot's record: its picked take's (or, without one, its first failed take's), with what every take
    cost in this run; a single take is recorded as it is."""
    records = [_take_record(t, scores[t.take.number]) for t in takes]
    if len(records) == 1:
        return records[0]
    chosen = next((r for r in records if r.take == number), None)
    if chosen is None:
        errors = "; ".join(f"take {r.take}: {r.error}" for r in records if r.error)
        chosen = records[0].model_copy(update={"status": "failed", "clip_key": None, "error": errors or reason})
    totals = {name: sum(getattr(r, name) for r in records) for name in SUMMED}
    return chosen.model_copy(update={**totals, "takes": records, "pick_reason": reason})
