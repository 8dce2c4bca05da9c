"""A shot as the manifest writes it and as the pipeline resolves it.

``Shot`` is one entry of ``campaign.yaml``'s ``shots:`` (its image, prompt, takes, pinned frames), validated with
pydantic like the rest of the manifest; ``ResolvedShot`` is that shot with the campaign's defaults applied
(``resolve_shot``), so the planner, the generator and the checks never look a default up again. Kept apart from
``campaign`` because every stage after the manifest works on shots, not on the manifest. Imports no Dagster.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from .deliverable_spec import StrictModel
from .manifest_yaml import SHOWN_KEY

if TYPE_CHECKING:
    from .campaign import Manifest

MAX_TAKES = 8  # takes of one shot in the manifest (a re-roll adds more)


class Keyframe(StrictModel):
    """A dropped image pinned ``timestamp`` seconds into the shot's clip (the SDK's ``Keyframe`` fields)."""

    image: str
    timestamp: float = Field(ge=0)


class TakeSpec(StrictModel):
    """One take of a shot: its own clip, on its own model (default: the campaign's ``model``)."""

    model: str | None = None


def _takes_count(value: object) -> object:
    """One message for a bad ``takes`` count (the union below would report each of its two forms)."""
    count = len(value) if isinstance(value, list) else value
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_TAKES:
        raise ValueError(f"a number of takes or a list of {{model: ...}}, 1-{MAX_TAKES}, not {str(value)[:SHOWN_KEY]}")
    return value


Takes = Annotated[
    Annotated[int, Tag("number")] | Annotated[list[TakeSpec], Tag("list")],
    Discriminator(lambda value: "list" if isinstance(value, list) else "number"),
    BeforeValidator(_takes_count),
]


def take_models(takes: int | list[TakeSpec], model: str) -> list[str]:
    """The model of each take: ``takes: 3`` is three takes on ``model``; a list names each take's model."""
    if isinstance(takes, int):
        return [model] * takes
    return [take.model or model for take in takes]


class Shot(StrictModel):
    """One image animated into one clip; a chained shot starts from the previous clip instead of an image."""

    image: str | None = None
    prompt: str = ""
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    duration: int | None = Field(default=None, ge=1, le=15)
    chain: bool = False
    end_image: str | None = None
    audio: bool | None = None  # None: the campaign's ``audio``
    keyframes: list[Keyframe] = Field(default_factory=list, max_length=4)
    reference_images: list[str] = Field(default_factory=list)
    takes: Takes | None = None  # None: the campaign's ``takes``
    pick: int | None = Field(default=None, ge=1)  # the take delivered, chosen by hand (default: the best scored)

    @model_validator(mode="after")
    def _source(self) -> Shot:
        if self.image is None and not self.chain:
            raise ValueError("a shot needs an 'image' unless it is chained ('chain: true')")
        if self.image is None and self.id is None:
            raise ValueError("a chained shot without an 'image' needs an 'id'")
        return self

    @property
    def shot_id(self) -> str:
        """The shot's name in records, store keys and the UI: its ``id`` or its image's file stem."""
        return self.id or PurePosixPath(self.image or "").stem


class ResolvedShot(StrictModel):
    """A shot with the campaign defaults applied: everything a generator needs, nothing it has to look up."""

    shot_id: str
    index: int
    image: str | None
    prompt: str
    duration: int
    chain: bool = False
    end_image: str | None = None
    audio: bool = True
    keyframes: list[Keyframe] = Field(default_factory=list)
    reference_images: list[str] = Field(default_factory=list)
    takes: list[str] = Field(default_factory=list)  # each take's model, in take order; empty: one take on ``model``
    pick: int | None = None


def resolve_shot(shot: Shot, index: int, manifest: Manifest) -> ResolvedShot:
    """``shot``, the ``index``-th of its campaign, with the manifest's defaults applied where it sets none."""
    return ResolvedShot(
        shot_id=shot.shot_id,
        index=index,
        image=shot.image,
        prompt=shot.prompt,
        duration=shot.duration or manifest.duration,
        chain=shot.chain,
        end_image=shot.end_image,
        audio=manifest.audio if shot.audio is None else shot.audio,
        keyframes=shot.keyframes,
        reference_images=shot.reference_images,
        takes=take_models(manifest.takes if shot.takes is None else shot.takes, manifest.model),
        pick=shot.pick,
    )
