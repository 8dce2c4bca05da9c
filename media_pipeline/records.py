"""The small records each stage returns: the keys, hashes and URLs it produced, kept as JSON in the store.

A later stage (or a re-run of one stage alone) reads them back through the IO manager, so an S3 deployment keeps
no state on local disk. They are plain pydantic models; nothing here imports Dagster.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from .campaign import Campaign


class SourceFile(BaseModel):
    """One dropped file after validation: where its normalized copy lives, or why it was refused."""

    file: str
    key: str | None = None
    sha256: str | None = None
    width: int = 0
    height: int = 0
    error: str | None = None


class SourceImages(BaseModel):
    """Output of ``source_images``: the campaign as validated and every file it reads, by drop file name."""

    campaign: Campaign
    files: dict[str, SourceFile]

    def for_shot(self, file: str) -> SourceFile:
        """The record of a file a shot names."""
        return self.files[file]


class HostedImage(BaseModel):
    """A source image in the store and the URL handed to the generator (None: made at use, e.g. a data: URL)."""

    key: str
    sha256: str
    url: str | None = None
    expires_at: datetime | None = None


class HostedImages(BaseModel):
    """Output of ``hosted_images``, by drop file name; files that failed validation are absent."""

    campaign: str
    images: dict[str, HostedImage]


class ClipOutcome(BaseModel):
    """What a generator did for one shot: the stored clip, the API request behind it, its cost."""

    shot: str
    status: Literal["generated", "cached", "failed"]
    clip_key: str | None = None
    request_id: str | None = None
    cost_usd: float = 0.0
    video_seconds: float = 0.0
    latency_s: float = 0.0
    api_calls: int = 0
    submits: int = 0  # requests the API accepted (paid) in this attempt
    uncertain_submits: int = 0  # submits whose reply never came: perhaps accepted and billed, perhaps not
    error: str | None = None


class ShotClip(ClipOutcome):
    """One take's clip as recorded: the outcome plus its cache key, source, first-frame fidelity and scores.

    A shot's record is its picked take's, with what all its takes cost in this run (calls, cost, seconds) and,
    when it has more than one take, every take in ``takes`` and the reason for the pick (``picks.py``).
    """

    cache_key: str | None = None
    source_key: str | None = None
    fidelity: float | None = None
    clip_bytes: int | None = None  # the stored clip's size when it was last known good
    healed: bool = False  # a cached clip that did not decode was removed and made again
    take: int = 1
    model: str | None = None
    scores: dict[str, float | None] = {}  # the take's measures (media.scoring.TakeScores), ``overall`` among them
    takes: list[ShotClip] = []
    pick_reason: str | None = None

    @property
    def cache_hit(self) -> bool:
        """True when the clip was already in the store and nothing was generated for it."""
        return self.status == "cached"


class GeneratedClips(BaseModel):
    """Output of ``generated_clips``: every shot in delivery order."""

    campaign: str
    generator: str
    clips: list[ShotClip]

    @property
    def failed(self) -> list[ShotClip]:
        """The shots without a clip."""
        return [c for c in self.clips if c.status == "failed"]


class DeliverableFile(BaseModel):
    """One published file of the deliverable."""

    aspect: str
    key: str
    width: int
    height: int
    duration: float


class Deliverable(BaseModel):
    """Output of ``deliverable``: the published renditions, poster and contact sheet.

    It is also the set's pointer (``deliverables/<campaign>/current.json``): its keys name the set's version
    folder. ``skipped_shots`` are the failed shots left out under ``on_failed_shots: skip``, with their errors.
    """

    campaign: str
    master_key: str
    renditions: list[DeliverableFile]
    poster_key: str
    contact_sheet_key: str
    duration: float
    sha256: str
    shot_offsets: dict[str, float] = {}
    version: str = ""
    published_at: datetime | None = None
    skipped_shots: dict[str, str] = {}
    inputs: str = ""  # the hash of what the set was made from (assets/delivery_reuse.py); equal inputs reuse it

    @property
    def keys(self) -> list[str]:
        """Every file of the set: the renditions (master first), the poster and the contact sheet."""
        return [f.key for f in self.renditions] + [self.poster_key, self.contact_sheet_key]
