"""The shared asset setup: each stage is written once and built into an asset of any ``Pipeline``.

A stage module marks its function with ``@campaign_asset(...)`` (the ``@asset`` arguments that belong to the stage:
kinds, code version, retry policy, pool, check specs). ``CampaignAsset.build(pipeline)`` adds what belongs to the
pipeline: the key prefix, the campaign partitions, the group, the upstream keys and the records IO manager. A stage
names the systems it talks to as the kinds ``store`` and ``generator``; the build shows the configured ones
(``s3`` or ``filesystem``, ``xai`` or ``ffmpeg``), so a local pipeline shows no S3 or xAI badge.

Dagster gives a function the resource named like its parameter, so two pipelines in one code location could not
both have a resource called ``store``. ``with_resource_keys`` shows Dagster the function with its resource
parameters renamed to the pipeline's keys (``brand_a_store``) and calls it with its own names, so the stage bodies
(and the sensor and schedule bodies) stay the same for every pipeline.
"""

from __future__ import annotations

import functools
import inspect
import typing
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from dagster import AssetCheckSpec, AssetIn, AssetsDefinition, PreviewWarning, asset

from ..partitions import RESOURCES, STAGES, Pipeline


def with_resource_keys(fn: Callable[..., Any], pipeline: Pipeline) -> Callable[..., Any]:
    """``fn`` as Dagster should see it in ``pipeline``: each parameter named like one of ``RESOURCES`` renamed to
    the pipeline's resource key. The project's own pipeline uses the plain keys, so ``fn`` comes back unchanged."""
    signature = inspect.signature(fn)
    renamed = {pipeline.resource_key(p): p for p in signature.parameters if p in RESOURCES}
    if all(key == param for key, param in renamed.items()):
        return fn
    keys = {param: key for key, param in renamed.items()}

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **{renamed.get(name, name): value for name, value in kwargs.items()})

    hints = typing.get_type_hints(fn)  # evaluated here: string annotations name types of fn's module, not this one
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            p.replace(name=keys.get(p.name, p.name), annotation=hints.get(p.name, p.annotation))
            for p in signature.parameters.values()
        ],
        return_annotation=hints.get("return", signature.return_annotation),
    )
    call.__annotations__ = {keys.get(name, name): hint for name, hint in hints.items()}
    return call


class CampaignAsset:
    """A stage function with its own ``@asset`` arguments, waiting for the pipeline it belongs to."""

    def __init__(self, fn: Callable[..., Any], check_specs: list[AssetCheckSpec], asset_args: dict[str, Any]):
        self.fn = fn
        self.check_specs = check_specs
        self.asset_args = asset_args
        self.name = fn.__name__

    def _check_spec(self, spec: AssetCheckSpec, pipeline: Pipeline) -> AssetCheckSpec:
        """The stage's check on the pipeline's asset; a partitioned check takes the pipeline's partitions."""
        with warnings.catch_warnings():  # partitioned checks are a preview feature in Dagster 1.13 (see checks.py)
            warnings.simplefilter("ignore", PreviewWarning)
            return AssetCheckSpec(
                spec.name,
                asset=pipeline.asset_key(spec.asset_key.path[-1]),
                description=spec.description,
                blocking=spec.blocking,
                metadata=spec.metadata,
                automation_condition=spec.automation_condition,
                partitions_def=pipeline.partitions if spec.partitions_def is not None else None,
            )

    def build(self, pipeline: Pipeline, backends: Mapping[str, str] | None = None) -> AssetsDefinition:
        """The stage as an asset of ``pipeline``; ``backends`` names the kind shown for ``store`` and ``generator``."""
        upstream = [p for p in inspect.signature(self.fn).parameters if p in STAGES]
        args = dict(self.asset_args)
        if "kinds" in args:
            args["kinds"] = {(backends or {}).get(kind, kind) for kind in args["kinds"]}
        return asset(
            name=self.name,
            key_prefix=pipeline.key_prefix or None,
            ins={stage: AssetIn(key=pipeline.asset_key(stage)) for stage in upstream},
            partitions_def=pipeline.partitions,
            group_name=pipeline.group,
            io_manager_key=pipeline.resource_key("records_io_manager"),
            check_specs=[self._check_spec(spec, pipeline) for spec in self.check_specs] or None,
            **args,
        )(with_resource_keys(self.fn, pipeline))


def campaign_asset(*, check_specs: list[AssetCheckSpec] | None = None, **asset_args: Any):
    """Mark a stage function; ``asset_args`` are ``@asset`` arguments that do not depend on the pipeline."""

    def mark(fn: Callable[..., Any]) -> CampaignAsset:
        return CampaignAsset(fn, check_specs or [], asset_args)

    return mark
