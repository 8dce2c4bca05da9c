"""The campaign manifest: what a drop folder asks the pipeline to make.

A campaign is one folder of images in the drop zone plus an optional ``campaign.yaml``. This module parses and
validates that manifest with pydantic (unknown keys are rejected by name) and resolves it against the files
actually dropped, so every later stage works from one checked ``Campaign``: everything that can be known before
paying for a clip is checked here (shot ids unique, prompts within the API's limit, transitions shorter than the
shots they join, ``poster.shot`` a real shot). The YAML itself is read by ``manifest_yaml``, and each shot's own
fields (``Shot``, ``ResolvedShot``) live in ``shots``. It imports no Dagster.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from .deliverable_spec import DeliverableSpec, StrictModel
from .manifest_yaml import MAX_PROBLEMS_SHOWN, ManifestSyntaxError, describe_problems, load_yaml, shown
from .preflight import campaign_problems
from .resources.xai.catalog import catalog_from_env
from .shots import ResolvedShot, Shot, Takes, resolve_shot, take_models

CAMPAIGN_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # matched whole (fullmatch)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
# image files the pipeline does not take: a dropped one becomes a refused shot, named, rather than vanishing
OTHER_IMAGE_EXTENSIONS = (".heic", ".heif", ".avif", ".tif", ".tiff", ".gif", ".bmp", ".jxl", ".svg", ".psd", ".dng")
MANIFEST_NAME = "campaign.yaml"
DEFAULT_MODEL = "grok-imagine-video-1.5-preview"
# the per-shot keys a batch request carries (client.video.prepare); a shot key outside it is refused in batch mode
BATCH_CARRIES = frozenset(
    {"image", "prompt", "id", "duration", "chain", "end_image", "audio", "keyframes", "reference_images"}
    | {"takes", "pick"}
)

Resolution = Literal["480p", "720p", "1080p"]
AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3"]


class CampaignError(ValueError):
    """A campaign that cannot be run as dropped; the message names the campaign and the file."""


class Manifest(StrictModel):
    """``campaign.yaml`` as written by the user; every field has a default."""

    model: str = DEFAULT_MODEL
    resolution: Resolution = "720p"
    duration: int = Field(default=5, ge=1, le=15)
    aspect_ratio: AspectRatio = "16:9"
    style: str = ""
    budget_usd: float | None = Field(default=None, ge=0)
    review: Literal["none", "required"] = "none"  # required: a draft, published once approved (resources/review)
    shots: list[Shot] | None = None
    deliverable: DeliverableSpec = Field(default_factory=DeliverableSpec)
    on_failed_shots: Literal["fail", "skip"] = "fail"  # skip: deliver the good shots, list the missing ones
    mode: Literal["sync", "batch"] = "sync"  # batch: the uncached shots go out as xAI batches (see README)
    audio: bool = True  # false: silent clips (generate_audio=False); a shot's own ``audio`` overrides it
    takes: Takes = 1  # clips made per shot, the best scored one delivered (see planning); a shot's own overrides
    hosting: Literal["url", "xai_files"] = "url"  # xai_files: images go to the API as xAI files (private stores)

    @model_validator(mode="after")
    def _check_shots(self) -> Manifest:
        shots = self.shots or []
        if shots and shots[0].chain:
            raise ValueError(f"shot {shots[0].shot_id!r} is first, so it has no previous clip to chain from")
        pinned = [s.shot_id for s in shots if s.end_image]
        models = {self.model, *take_models(self.takes, self.model)}
        models.update(m for s in shots if s.takes is not None for m in take_models(s.takes, self.model))
        catalog = catalog_from_env(os.environ)  # models added by configuration pin when their entry says so
        unpinned = sorted(m for m in models if m not in catalog or not catalog.get(m).last_frame)
        if pinned and unpinned:
            pinning = ", ".join(spec.id for spec in catalog.specs if spec.last_frame)
            raise ValueError(
                f"end_image on shot(s) {', '.join(pinned)} needs a model that pins the last frame "
                f"({pinning}); model {unpinned[0]!r} does not"
            )
        if self.mode == "batch":
            for shot in shots:
                kept = sorted(shot.model_fields_set - BATCH_CARRIES)
                if kept:
                    raise ValueError(
                        f"shot {shot.shot_id!r}: mode: batch cannot carry {kept[0]!r} in a batch request; "
                        "drop it from the shot or use mode: sync"
                    )
        return self


class Campaign(StrictModel):
    """A validated campaign: its id, the manifest with defaults, and its shots in delivery order."""

    campaign_id: str
    manifest: Manifest
    shots: list[ResolvedShot]

    def full_prompt(self, shot: ResolvedShot) -> str:
        """The prompt sent for a shot: its own words with the campaign style appended for a consistent look."""
        parts = [p.strip() for p in (shot.prompt, self.manifest.style) if p and p.strip()]
        return ". ".join(parts)

    def shot(self, shot_id: str) -> ResolvedShot:
        """The shot named ``shot_id``; a ``KeyError`` naming the campaign otherwise."""
        for shot in self.shots:
            if shot.shot_id == shot_id:
                return shot
        raise KeyError(f"campaign {self.campaign_id!r} has no shot {shot_id!r}")

    def referenced_files(self) -> list[str]:
        """Every file the campaign reads from its drop folder: images, pinned end images, keyframes, reference
        images, soundtrack."""
        names = [s.image for s in self.shots if s.image] + [s.end_image for s in self.shots if s.end_image]
        names += [k.image for s in self.shots for k in s.keyframes]
        names += [r for s in self.shots for r in s.reference_images]
        if self.manifest.deliverable.soundtrack:
            names.append(self.manifest.deliverable.soundtrack)
        return list(dict.fromkeys(names))


def is_campaign_id(name: str) -> bool:
    """True when ``name``, as a whole, may name a campaign (a partition key and a folder)."""
    return CAMPAIGN_ID_PATTERN.fullmatch(name) is not None


def check_campaign_id(campaign_id: str) -> str:
    """Return ``campaign_id`` if it may name a campaign, else raise ``CampaignError``."""
    if not is_campaign_id(campaign_id):
        raise CampaignError(
            f"campaign {shown(campaign_id)}: the folder name must match {CAMPAIGN_ID_PATTERN.pattern} "
            "(lower-case letters, digits, '-' and '_')"
        )
    return campaign_id


def is_image_name(name: str) -> bool:
    """True for the file names the drop zone treats as source images."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not PurePosixPath(name).name.startswith(".")


def _is_shot_name(name: str) -> bool:
    """Without a manifest every image is a shot, including ones in formats the pipeline then refuses by name."""
    return is_image_name(name) or (name.lower().endswith(OTHER_IMAGE_EXTENSIONS) and not name.startswith("."))


def parse_manifest(campaign_id: str, text: str | None) -> Manifest:
    """Parse ``campaign.yaml`` text (None: no manifest) into a ``Manifest``, naming the campaign and key on error."""
    if text is None:
        return Manifest()
    where = f"campaign {campaign_id!r}, file {MANIFEST_NAME}"
    try:
        data = load_yaml(text)
    except ManifestSyntaxError as exc:
        raise CampaignError(f"{where}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CampaignError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise CampaignError(f"{where}: {describe_problems(exc, data)}") from None


def load_campaign(campaign_id: str, files: Iterable[str], manifest_text: str | None) -> Campaign:
    """Resolve a campaign from the names of the files dropped for it and its manifest text.

    Without a manifest (or one without ``shots``) every image is a shot, in file-name order. Files the manifest
    names but that were not dropped are reported together, by name; so is anything else knowable before paying.
    """
    check_campaign_id(campaign_id)
    manifest = parse_manifest(campaign_id, manifest_text)
    present = set(files)
    shots = manifest.shots
    if shots is None:
        shots = [Shot(image=name) for name in sorted(name for name in present if _is_shot_name(name))]
    if not shots:
        raise CampaignError(f"campaign {campaign_id!r}: no images ({', '.join(IMAGE_EXTENSIONS)}) were dropped")
    resolved = [resolve_shot(shot, index, manifest) for index, shot in enumerate(shots)]
    campaign = Campaign(campaign_id=campaign_id, manifest=manifest, shots=resolved)
    where = f"campaign {campaign_id!r}" + (f", file {MANIFEST_NAME}" if manifest_text is not None else "")
    missing = [name for name in campaign.referenced_files() if name not in present]
    if missing:
        more = f" and {len(missing) - MAX_PROBLEMS_SHOWN} more" if len(missing) > MAX_PROBLEMS_SHOWN else ""
        listed = ", ".join(shown(name)[1:-1] for name in missing[:MAX_PROBLEMS_SHOWN])
        raise CampaignError(f"{where}: names files that were not dropped: {listed}{more}")
    problems = campaign_problems(campaign)
    if problems:
        raise CampaignError(f"{where}: {'; '.join(problems)}")
    return campaign
