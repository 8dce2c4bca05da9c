"""The job that materializes a campaign's whole chain; the pipeline's sensor, schedule and the CLI all run it.

By default its four steps run in one process (``in_process_executor``): a campaign's chain is sequential, so a
process per step only adds start-up time. A deployment that wants steps isolated passes another executor
(``multiprocess_executor``, dagster-k8s's ``k8s_job_executor``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetSelection, ExecutorDefinition, define_asset_job, in_process_executor

from .partitions import Pipeline

if TYPE_CHECKING:  # what define_asset_job returns; dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition


def build_campaign_job(
    pipeline: Pipeline, executor: ExecutorDefinition | None = in_process_executor
) -> UnresolvedAssetJobDefinition:
    """``<name>_campaign_job`` over the pipeline's four assets and their checks; ``executor=None`` leaves the
    choice to the code location's default executor."""
    return define_asset_job(
        pipeline.job_name,
        selection=AssetSelection.assets(*pipeline.asset_keys),
        executor_def=executor,
        description="Source images to deliverable for one campaign.",
    )
