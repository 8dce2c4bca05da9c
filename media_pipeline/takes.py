"""A shot's takes: what re-rolls and picks by hand left in the store, each take's scores beside its clip, the pick.

- ``takes/<campaign>/<shot>.json`` (``ShotChoices``) keeps the takes a re-roll added (they stay candidates in
  every later run) and the take picked by hand from the Launchpad (run config). A pick in the run config wins, then
  the manifest's ``pick``, then the stored one, then the best scored take. A run config's pick 0 clears the stored
  pick, and so does a re-roll of the shot: its new takes compete, and the scores pick again.
- ``clips/<key>.scores.json`` (``StoredScores``) keeps a take's measures (``media.scoring``) and its inline
  preview beside the clip, for the size the clip had when it was scored: a later run (or the estimate) reads them
  instead of decoding the clip again, and never from the asset's last record.

No Dagster here; the store is the one handed in.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from .campaign import Campaign
from .clip_request import ClipRequest
from .media.frames import poster
from .media.scoring import TakeScores, score_take
from .planning import Plan, lane_after, shot_takes
from .preview import thumbnail_markdown
from .shots import MAX_TAKES

if TYPE_CHECKING:
    from .resources.store import MediaStore


class ShotChoices(BaseModel):
    """What was decided for one shot outside its manifest: re-rolled takes (their models) and a pick by hand."""

    rolled: list[str] = []
    pick: int | None = None
    rolls: list[str] = []  # the runs whose re-rolls ``rolled`` holds (a retried run carries its first run's id)


class Reroll(BaseModel):
    """New takes for one shot (``media-pipeline reroll``, or ``reroll`` in the Launchpad's run config)."""

    shot: str
    takes: int = 1
    model: str | None = None  # default: the campaign's model
    id: str = ""  # the run asking (its first run's id, so a retry of it rolls nothing more); empty: a dry run

    def adds_to(self, shot_id: str, stored: ShotChoices) -> bool:
        """True when this re-roll's takes are new to ``shot_id``, not yet kept in ``stored``."""
        return self.shot == shot_id and not (self.id and self.id in stored.rolls)

    def models(self, campaign: Campaign) -> list[str]:
        return [self.model or campaign.manifest.model] * self.takes


class StoredScores(BaseModel):
    """A take's measures and inline preview, valid for the clip at ``clip_bytes``."""

    clip_bytes: int
    scores: TakeScores
    preview: str = ""


def choices_key(campaign_id: str, shot_id: str) -> str:
    return f"takes/{campaign_id}/{shot_id}.json"


def read_choices(store: MediaStore, campaign: Campaign) -> dict[str, ShotChoices]:
    """The stored choices of the campaign's shots (a shot without any is absent)."""
    found: dict[str, ShotChoices] = {}
    for key in store.list_keys(f"takes/{campaign.campaign_id}/"):
        shot_id = key.rsplit("/", 1)[-1].removesuffix(".json")
        if any(s.shot_id == shot_id for s in campaign.shots):
            found[shot_id] = ShotChoices.model_validate_json(store.get_bytes(key))
    return found


def write_choices(store: MediaStore, campaign_id: str, shot_id: str, choices: ShotChoices) -> None:
    store.put_bytes(choices_key(campaign_id, shot_id), choices.model_dump_json(indent=2).encode())


def make_plan(
    campaign: Campaign,
    choices: Mapping[str, ShotChoices],
    picks: Mapping[str, int] | None = None,
    reroll: Reroll | None = None,
) -> Plan:
    """The run's plan: the manifest's takes and the stored re-rolls (plus ``reroll``'s new takes, which limit what
    may be paid for to its shot and the shots chained after it), with the picks by hand in force (a kept pick of a
    take the shot no longer has is dropped; the others are checked by ``plan_problems``)."""
    takes, chosen = {}, {}
    for shot in campaign.shots:
        stored = choices.get(shot.shot_id, ShotChoices())
        rolled = list(stored.rolled)
        if reroll is not None and reroll.adds_to(shot.shot_id, stored):
            rolled += reroll.models(campaign)
            kept_pick = None  # a re-roll asks for a better take: the scores pick again (a manifest pick still wins)
        else:
            kept_pick = stored.pick
        takes[shot.shot_id] = shot_takes(campaign, shot, rolled)
        kept = kept_pick if kept_pick is not None and kept_pick <= len(takes[shot.shot_id]) else None
        pick = next((p for p in ((picks or {}).get(shot.shot_id), shot.pick, kept) if p is not None), None)
        if pick:  # a run config's 0: back to the pick by the scores
            chosen[shot.shot_id] = pick
    generate = frozenset(lane_after(campaign.shots, reroll.shot)) if reroll is not None else None
    return Plan(campaign=campaign, takes=takes, picks=chosen, generate=generate)


def plan_problems(plan: Plan, picks: Mapping[str, int], reroll: Reroll | None) -> list[str]:
    """Picks and re-rolls that name no shot or no take, each named; empty when the plan may run."""
    ids = [s.shot_id for s in plan.campaign.shots]
    problems = [f"pick for shot {shot!r}: the campaign has no such shot" for shot in picks if shot not in ids]
    if reroll is not None and reroll.shot not in ids:
        problems.append(f"re-roll of shot {reroll.shot!r}: the campaign has no such shot (shots: {', '.join(ids)})")
    pinned = next((s.pick for s in plan.campaign.shots if reroll and s.shot_id == reroll.shot and s.pick), None)
    if reroll is not None and pinned is not None:
        problems.append(
            f"re-roll of shot {reroll.shot!r}: campaign.yaml picks its take {pinned} (key 'pick'), so a new take "
            "would never be delivered; remove the pick first"
        )
    if reroll is not None and not 1 <= reroll.takes <= MAX_TAKES:
        problems.append(f"re-roll of shot {reroll.shot!r}: takes must be 1-{MAX_TAKES}, not {reroll.takes}")
    for shot_id, pick in plan.picks.items():
        count = len(plan.takes[shot_id])
        from_manifest = shot_id not in picks  # else the run config's
        where = f"shot {shot_id!r}, key 'pick' of campaign.yaml: take" if from_manifest else f"shot {shot_id!r}: pick"
        if not 1 <= pick <= count:
            problems.append(f"{where} {pick} is not one of its takes (1-{count})")
    return problems


def scores_key(clip_key: str) -> str:
    """Where a clip's scores live: beside it."""
    return clip_key.removesuffix(".mp4") + ".scores.json"


def read_scores(store: MediaStore, clip_key: str, clip_bytes: int | None) -> StoredScores | None:
    """The stored scores of the clip at ``clip_key`` when they were taken of a clip of ``clip_bytes``."""
    try:
        stored = StoredScores.model_validate_json(store.get_bytes(scores_key(clip_key)))
    except (KeyError, ValidationError):  # none stored, or written by a version that measured otherwise
        return None
    return stored if stored.clip_bytes == clip_bytes else None


def score_clip(store: MediaStore, request: ClipRequest) -> StoredScores:
    """Measure the stored clip of ``request`` against its source and pinned last frame, make its preview, and
    keep both beside the clip (``MediaError`` when the clip does not decode)."""
    with contextlib.ExitStack() as files:
        clip = files.enter_context(store.local_file(request.clip_key))
        source = files.enter_context(store.local_file(request.image_key))
        last = files.enter_context(store.local_file(request.last_frame_key)) if request.last_frame_key else None
        scores = score_take(clip, source, last_frame=last, what=request.where)
        middle = poster(clip, Path(files.enter_context(tempfile.TemporaryDirectory(prefix="take-"))) / "preview.jpg")
        alt = f"{request.shot} take {request.take}"
        stored = StoredScores(clip_bytes=clip.stat().st_size, scores=scores, preview=thumbnail_markdown(middle, alt))
    store.put_bytes(scores_key(request.clip_key), stored.model_dump_json().encode())
    return stored
