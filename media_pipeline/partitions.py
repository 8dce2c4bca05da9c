"""The campaign partitions, and the other names one pipeline gives its Dagster objects.

A code location can hold several pipelines (two brands, two stores). Each is a ``Pipeline``: its name prefixes its
asset keys and names its partitions, sensor, schedule and resource keys, so two pipelines share no Dagster name
and never see each other's campaigns. The project's own pipeline has the empty name and the plain names
(``source_images``, ``campaigns``, ``store``...). Every run of every pipeline is Dagster's implicit asset job,
``ASSET_JOB``, selecting the pipeline's four assets (``Pipeline.run_request``).

It lives apart from ``campaign.py`` because that module stays free of Dagster imports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dagster import AssetKey, DynamicPartitionsDefinition, RunRequest

PIPELINE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
STAGES = ("source_images", "hosted_images", "generated_clips", "deliverable")
RESOURCES = ("store", "drops", "generator", "records_io_manager")
ASSET_JOB = "__ASSET_JOB"
"""The job of every run: the one the UI's Materialize launches from the asset graph, Dagster's implicit asset job.
Sensors, schedules and the CLI select a pipeline's assets in it, so a run has one job name however it started."""


@dataclass(frozen=True)
class Pipeline:
    """One pipeline's names; ``name`` is empty for the project's own pipeline."""

    name: str = ""

    def __post_init__(self) -> None:
        if self.name and not PIPELINE_NAME_PATTERN.fullmatch(self.name):
            raise ValueError(
                f"pipeline name {self.name!r}: expected {PIPELINE_NAME_PATTERN.pattern} (it prefixes Dagster names)"
            )

    def named(self, base: str) -> str:
        """``base`` as this pipeline names it: ``<name>_<base>``, or ``base`` for the project's own pipeline."""
        return f"{self.name}_{base}" if self.name else base

    @property
    def key_prefix(self) -> list[str]:
        return [self.name] if self.name else []

    def asset_key(self, stage: str) -> AssetKey:
        return AssetKey([*self.key_prefix, stage])

    @property
    def asset_keys(self) -> list[AssetKey]:
        """The keys of the four stages, in pipeline order."""
        return [self.asset_key(stage) for stage in STAGES]

    @property
    def group(self) -> str:
        return self.name or "media"

    @property
    def partitions(self) -> DynamicPartitionsDefinition:
        """One dynamic partition per campaign id of this pipeline's drop zone."""
        return DynamicPartitionsDefinition(name=self.named("campaigns"))

    def run_request(self, campaign: str, tags: Mapping[str, str], run_key: str | None = None) -> RunRequest:
        """A run of ``campaign``'s whole chain: this pipeline's four assets (and their checks) in ``ASSET_JOB``."""
        return RunRequest(run_key=run_key, partition_key=campaign, asset_selection=list(self.asset_keys), tags=tags)

    def resource_key(self, resource: str) -> str:
        """The Dagster resource key of one of ``RESOURCES`` in this pipeline."""
        return self.named(resource)


PROJECT_PIPELINE = Pipeline()
"""The project's own pipeline: plain names, one per code location."""

campaign_partitions = PROJECT_PIPELINE.partitions
