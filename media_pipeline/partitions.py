"""The campaign partitions: one dynamic partition per campaign id, added by the sensor or the CLI.

It lives apart from ``campaign.py`` because that module stays free of Dagster imports.
"""

from dagster import DynamicPartitionsDefinition

campaign_partitions = DynamicPartitionsDefinition(name="campaigns")
