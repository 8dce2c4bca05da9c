"""The job that materializes a campaign's whole chain; the sensor, the schedule and the CLI all run it."""

from dagster import AssetSelection, define_asset_job

campaign_job = define_asset_job(
    "campaign_job",
    selection=AssetSelection.groups("media"),
    description="Source images to deliverable for one campaign.",
)
