"""What can be known about a campaign before paying for any clip, checked on the resolved campaign.

``load_campaign`` calls ``campaign_problems`` last, so a campaign that would fail only after its clips are paid
for (two shots sharing one id and so one journal entry, a prompt the API refuses, transitions longer than the
shots they join, a poster taken from a shot that does not exist, a resolution, duration, keyframes or reference
images that a take's model cannot take, as its catalog entry says) is refused whole, with every problem named.
No Dagster here; the API's limits come from its one table.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .manifest_yaml import shown
from .resources.xai.catalog import MAX_PROMPT_CHARS, catalog_from_env

if TYPE_CHECKING:
    from .campaign import Campaign
    from .shots import ResolvedShot


def campaign_problems(campaign: Campaign) -> list[str]:
    """Every problem found, each naming its shot (and files); empty when the campaign may be paid for."""
    return _unique_ids(campaign) + _spec_problems(campaign) + _input_problems(campaign)


def _input_problems(campaign: Campaign) -> list[str]:
    """What a take's model cannot do, as its catalog entry says (the resolution, a shot's duration, keyframes,
    reference images), each named once with its key; and keyframes outside their shot. An unknown model is
    refused, naming the known ones, when the generator checks its requests."""
    catalog = catalog_from_env(os.environ)
    resolution = campaign.manifest.resolution
    problems = []
    for shot in campaign.shots:
        for model in dict.fromkeys(shot.takes or [campaign.manifest.model]):
            if model not in catalog:
                continue
            spec = catalog.get(model)
            if resolution not in spec.resolutions:
                problems.append(f"key 'resolution': model {spec.id} renders {', '.join(spec.resolutions)}, "
                                f"not {resolution}")  # fmt: skip
            if not spec.min_duration <= shot.duration <= spec.max_duration:
                problems.append(f"shot {shot.shot_id!r}, key 'duration': model {spec.id} makes "
                                f"{spec.min_duration}-{spec.max_duration} s, not {shot.duration}")  # fmt: skip
            if len(shot.keyframes) > spec.max_keyframes:
                allowed = f"at most {spec.max_keyframes}" if spec.max_keyframes else "none"
                problems.append(f"shot {shot.shot_id!r}, key 'keyframes': model {spec.id} accepts {allowed}")
            if shot.reference_images and not spec.reference_images:
                problems.append(f"shot {shot.shot_id!r}, key 'reference_images': model {spec.id} accepts none")
        late = [k.timestamp for k in shot.keyframes if k.timestamp >= shot.duration]
        if late:
            problems.append(f"shot {shot.shot_id!r}, key 'keyframes': timestamp {late[0]} s is not inside its "
                            f"{shot.duration} s")  # fmt: skip
    return list(dict.fromkeys(problems))


def _unique_ids(campaign: Campaign) -> list[str]:
    """Two shots with one id (``prod.jpg`` and ``prod.png``; or ids differing in case only, which collide on
    case-insensitive stores) would share a cache entry and a journal entry: both are named, with their files."""
    first: dict[str, ResolvedShot] = {}
    problems = []
    for shot in campaign.shots:
        other = first.setdefault(shot.shot_id.casefold(), shot)
        if other is not shot:
            files = " and ".join(s.image or f"shot #{s.index + 1}" for s in (other, shot))
            problems.append(f"shot id {shot.shot_id!r} is used twice ({files}); rename a file or give one shot an 'id'")
    return problems


def _spec_problems(campaign: Campaign) -> list[str]:
    """What the API or the deliverable would refuse only after clips are paid for, found now."""
    spec = campaign.manifest.deliverable
    problems = []
    for shot in campaign.shots:
        length = len(campaign.full_prompt(shot))
        if length > MAX_PROMPT_CHARS:
            problems.append(
                f"shot {shot.shot_id!r}: prompt and style are {length} characters, over the API's {MAX_PROMPT_CHARS}"
            )
    ids = [s.shot_id for s in campaign.shots]
    if spec.poster.shot is not None and spec.poster.shot not in ids:
        problems.append(f"deliverable.poster.shot {shown(spec.poster.shot)} is not one of the shots {ids[:20]}")
    frames_t = round(spec.transition_seconds * spec.fps) if spec.transition != "cut" else 0
    if frames_t and len(campaign.shots) > 1:
        last = len(campaign.shots) - 1
        for shot in campaign.shots:
            needed = frames_t * (1 if shot.index in (0, last) else 2)
            if shot.duration * spec.fps < needed:
                problems.append(
                    f"shot {shot.shot_id!r}: {shot.duration} s is too short for {spec.transition_seconds} s "
                    f"{spec.transition} transitions (needs {float(needed / spec.fps):.2f} s)"
                )
    return problems
