"""The ``deliverable:`` section of ``campaign.yaml``: how a campaign's clips become its finished files.

Transition, renditions, fit, sound, frame rate and poster, validated with pydantic like the rest of the manifest
(unknown keys refused by name). The frame rate is kept exact: 29.97 is 30000/1001, so a programme conformed to it
has exactly the frames its duration asks for. Imports no Dagster.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from .media.formats import exact_rate

RenditionRatio = Literal["16:9", "9:16", "1:1"]


class StrictModel(BaseModel):
    """A manifest section: unknown keys refused by name, and frozen once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PosterChoice(StrictModel):
    """Which frame becomes the poster: a shot and a time into it, else the middle of the programme."""

    shot: str | None = None
    at: float | None = Field(default=None, ge=0)


def _frame_rate(value: object) -> Fraction:
    """``fps`` as an exact rate: 29.97 and 23.976 are 30000/1001 and 24000/1001, never 30 or 24."""
    rate = exact_rate(value)
    if not 12 <= rate <= 60:
        raise ValueError(f"fps {value} is outside 12-60")
    return rate


FrameRate = Annotated[
    Fraction,
    BeforeValidator(_frame_rate),
    PlainSerializer(lambda rate: int(rate) if rate.denominator == 1 else str(rate), when_used="json"),
]


class DeliverableSpec(StrictModel):
    """How the clips become the finished files."""

    transition: Literal["cut", "crossfade", "fade_black"] = "cut"
    transition_seconds: float = Field(default=0.5, ge=0.0, le=5.0)
    renditions: list[RenditionRatio] = Field(default_factory=lambda: ["16:9"], min_length=1)
    fit: Literal["crop", "pad"] = "crop"
    audio: Literal["keep", "mute"] = "keep"
    soundtrack: str | None = None
    fps: FrameRate = Field(default=Fraction(24), description="frames per second, 12-60: 24, 25, 29.97, 30000/1001")
    poster: PosterChoice = Field(default_factory=PosterChoice)

    @field_validator("renditions")
    @classmethod
    def _unique_renditions(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("renditions must not repeat")
        return value
