"""The xAI video models: ids and aliases, prices, capabilities, rate limits, and the API's request limits.

One table for the generator that calls xAI, the estimates and budget checks, manifest validation and the
emulator that stands in for the API, so none of them can drift apart. Facts come from the installed
``xai_sdk`` 1.21 (model ids, resolutions, aspect ratios, duration 1-15 s, which inputs are 1.5-only, at most 4
keyframes 1/3 s apart, 24 h result URLs) and xAI's rate-limit page (1 request per second per video model on
every tier); the figures that no source here confirms are marked ``assumed`` in ``price_source`` and in the
README. Every figure is configurable: ``ModelCatalog.merged`` takes entries that change a built-in model or
add a new one, and ``catalog_from_env`` reads them as JSON from ``MEDIA_PIPELINE_XAI_MODELS``. Pure Python.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from xai_sdk.types.video import VideoAspectRatioMap, VideoResolutionMap

Resolution = Literal["480p", "720p", "1080p"]
RESOLUTIONS: tuple[Resolution, ...] = ("480p", "720p", "1080p")  # ascending
RESOLUTION_NAMES = {proto: name for name, proto in VideoResolutionMap.items()}  # proto enum -> "720p"
ASPECT_RATIO_NAMES = {proto: name for name, proto in VideoAspectRatioMap.items()}  # proto enum -> "16:9"
MAX_PROMPT_CHARS = 4096
MAX_IMAGE_BYTES = 10 << 20
MAX_MESSAGE_BYTES = 20 << 20  # the SDK's max_send_message_length: every data: URL of a request in one message
DEFAULT_DURATION_SECONDS = 8  # what the API generates when a request names no duration
RESULT_URL_SECONDS = 24 * 3600  # a sync result URL's lifetime (the SDK's VideoResponse.url)
BATCH_RESULT_URL_SECONDS = 3600  # a batch result URL's lifetime (xAI's Batch API)
MODELS_ENV = "MEDIA_PIPELINE_XAI_MODELS"


class UnknownModel(ValueError):
    """A model id the catalog does not know; the message lists the known ones."""


Price = Annotated[float, Field(ge=0)]


class ModelSpec(BaseModel):
    """One video model: what it costs, what it can do, how fast it may be called. Every figure is a finite
    number (``allow_inf_nan``: JSON's ``Infinity`` or ``NaN`` would make a price or a pace meaningless)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=1, description="the id the API reports back (aliases resolved)")
    aliases: tuple[str, ...] = Field(default=(), description="other names the API accepts for this model")
    cache_name: str | None = Field(
        default=None,
        description="the one spelling clip cache keys use for every name of this model (default: the id), so "
        "writing an alias instead of the id never pays for the same clip again",
    )
    usd_per_second: dict[Resolution, Price] = Field(description="price per second of video, by resolution")
    usd_per_input_image: float = Field(ge=0, description="price per input image (first, last, key, reference)")
    batch_price_factor: float = Field(default=0.5, gt=0, le=1, description="batch price = factor x sync price")
    price_source: str = Field(default="configured", description="where the prices come from")
    rps: float = Field(default=1.0, gt=0, description="documented requests per second per key")
    seconds_per_video_second: float = Field(
        default=6.0, gt=0, description="typical latency per second of video (assumed); paces the first poll"
    )
    max_resolution: Resolution = "720p"
    min_duration: int = Field(default=1, ge=1)
    max_duration: int = Field(default=15, ge=1)
    last_frame: bool = Field(default=False, description="accepts a pinned last frame")
    max_keyframes: int = Field(default=0, ge=0, description="mid-clip keyframes accepted (0: none)")
    reference_images: bool = Field(default=True, description="accepts reference images (R2V)")

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.min_duration > self.max_duration:
            raise ValueError(f"{self.id}: min_duration is above max_duration")
        missing = [r for r in self.resolutions if r not in self.usd_per_second]
        if missing:
            raise ValueError(f"{self.id}: no price per second for {', '.join(missing)}")
        return self

    @property
    def resolutions(self) -> tuple[Resolution, ...]:
        """The resolutions this model renders, up to ``max_resolution``."""
        return RESOLUTIONS[: RESOLUTIONS.index(self.max_resolution) + 1]

    @property
    def names(self) -> tuple[str, ...]:
        """The id and every alias."""
        return (self.id, *self.aliases)

    @property
    def key_name(self) -> str:
        """The model's name in clip cache keys, whichever of its names a manifest uses."""
        return self.cache_name or self.id

    def price_usd(self, *, duration: int, resolution: str, input_images: int = 1, batch: bool = False) -> float:
        """What one request costs: seconds x the resolution's price + each input image (x the batch factor)."""
        if resolution not in self.resolutions:
            raise ValueError(f"{self.id} does not render {resolution!r}: {', '.join(self.resolutions)}")
        usd = duration * self.usd_per_second[resolution] + input_images * self.usd_per_input_image
        return round(usd * (self.batch_price_factor if batch else 1.0), 10)

    def problems(
        self,
        *,
        duration: int,
        resolution: str,
        last_frame: bool = False,
        keyframes: int = 0,
        reference_images: int = 0,
    ) -> list[str]:
        """What this model cannot do of a request, each naming the setting; empty when it can do it all."""
        out = []
        if not self.min_duration <= duration <= self.max_duration:
            out.append(f"duration {duration}: {self.id} makes {self.min_duration}-{self.max_duration} seconds")
        if resolution not in self.resolutions:
            out.append(f"resolution {resolution!r}: {self.id} renders {', '.join(self.resolutions)}")
        if last_frame and not self.last_frame:
            out.append(f"last frame: {self.id} cannot pin a last frame")
        if keyframes > self.max_keyframes:
            allowed = f"at most {self.max_keyframes}" if self.max_keyframes else "none"
            out.append(f"keyframes: {self.id} accepts {allowed}, got {keyframes}")
        if reference_images and not self.reference_images:
            out.append(f"reference images: {self.id} accepts none")
        return out


_V15_CAPABILITIES: dict[str, Any] = {"last_frame": True, "max_keyframes": 4, "max_resolution": "1080p"}
_V15_PRICES: dict[str, Any] = {
    "usd_per_second": {"480p": 0.08, "720p": 0.14, "1080p": 0.25},
    "usd_per_input_image": 0.01,
}
BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="grok-imagine-video",
        **_V15_PRICES,
        price_source="assumed: grok-imagine-video-1.5's figures (no published price found here)",
        max_resolution="720p",
    ),
    ModelSpec(
        id="grok-imagine-video-1.5",
        aliases=("grok-imagine-video-1.5-preview",),  # an alias since SDK 1.19
        cache_name="grok-imagine-video-1.5-preview",  # the default model's name: clips paid before stay valid
        **_V15_PRICES,
        price_source="the project's price table before the catalog; batch factor assumed",
        **_V15_CAPABILITIES,
    ),
    ModelSpec(
        id="grok-imagine-video-1.5-lite",
        **_V15_PRICES,
        price_source="assumed: grok-imagine-video-1.5's figures (no published price found here)",
        **_V15_CAPABILITIES,
    ),
)


class ModelCatalog:
    """The known models by id and alias; immutable (``merged`` makes a new one)."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self.specs: tuple[ModelSpec, ...] = tuple(specs)
        self._by_name: dict[str, ModelSpec] = {}
        for spec in self.specs:
            for name in spec.names:
                if name in self._by_name:
                    raise ValueError(f"model name {name!r} is given twice in the catalog")
                self._by_name[name] = spec

    def known(self) -> str:
        """The known models for a message: ``a, b (alias c), d``."""
        return ", ".join(
            spec.id + (f" (alias {', '.join(spec.aliases)})" if spec.aliases else "") for spec in self.specs
        )

    def get(self, model: str) -> ModelSpec:
        """The spec of ``model`` (an id or an alias); ``UnknownModel`` naming the known ones otherwise."""
        spec = self._by_name.get(model)
        if spec is None:
            raise UnknownModel(f"unknown xAI video model {model!r}; known models: {self.known()}")
        return spec

    def __contains__(self, model: object) -> bool:
        return model in self._by_name

    def merged(self, entries: Mapping[str, Mapping[str, Any]]) -> ModelCatalog:
        """A catalog with ``entries`` applied: ``{id: {field: value}}`` changes a known model's fields (by id or
        alias) or adds a new model (then its prices are required). ``ValueError`` names a bad entry."""
        specs = {spec.id: spec for spec in self.specs}
        for name, fields in entries.items():
            try:
                if name in self:
                    base = self.get(name)
                    specs[base.id] = ModelSpec.model_validate({**base.model_dump(), **fields, "id": base.id})
                else:
                    specs[name] = ModelSpec.model_validate({**fields, "id": name})
            except ValidationError as exc:
                raise ValueError(f"{MODELS_ENV} entry {name!r}: {_first_error(exc)}") from None
        try:
            return ModelCatalog(specs.values())
        except ValueError as exc:  # an alias that names another model
            raise ValueError(f"{MODELS_ENV}: {exc}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def default_catalog() -> ModelCatalog:
    """The built-in models."""
    return ModelCatalog(BUILTIN_MODELS)


def catalog_from_env(environ: Mapping[str, str]) -> ModelCatalog:
    """The built-in models with ``MEDIA_PIPELINE_XAI_MODELS`` (a JSON object ``{id: {field: value}}``) applied;
    each value of the variable is parsed once per process (estimates and batches ask per shot)."""
    return _parsed(environ.get(MODELS_ENV, "").strip())


@functools.lru_cache(maxsize=8)
def _parsed(raw: str) -> ModelCatalog:
    if not raw:
        return default_catalog()
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{MODELS_ENV} is not valid JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
        raise ValueError(f'{MODELS_ENV} must be a JSON object {{"model-id": {{"field": value}}}}')
    return default_catalog().merged(entries)
