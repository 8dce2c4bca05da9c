"""Takes, picks, re-rolls and review tried from outside, as a user would: what that trial found, kept fixed.

Each test drives the ``media-pipeline`` command (or a Launchpad-style run config) against the emulator with
inputs the other takes tests do not use, and counts what the emulator billed.
"""

import json
import subprocess
import sys

import pytest
from dagster import materialize

from media_pipeline.assets import campaign_assets

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition
from .xai_builders import xai_cli_env, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "media_pipeline.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_a_reroll_of_more_takes_than_allowed_is_refused_by_name_before_a_run(tmp_path, xai_emulator):
    """``--takes 9`` was estimated (12 takes), then the run failed with pydantic's raw ValidationError."""
    write_campaign(tmp_path / "drops", "many", shots=1, manifest=SMALL_MANIFEST, size=(160, 90))
    env = xai_cli_env(tmp_path, xai_emulator)
    refused = _cli(env, "reroll", "many", "shot_1", "--takes", "9", "--json")
    assert refused.returncode == 1
    summary = json.loads(refused.stdout)
    assert summary["error"] == "campaign 'many': re-roll of shot 'shot_1': takes must be 1-8, not 9"
    assert summary["run_id"] is None and xai_emulator.count("GenerateVideo") == 0


def test_a_launchpad_reroll_of_more_takes_than_allowed_names_campaign_and_shot(
    instance, drops_root, local_resources, xai_emulator
):
    write_campaign(drops_root, "pad", shots=1, manifest=SMALL_MANIFEST, size=(160, 90))
    add_campaign_partition(instance, "pad")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = materialize(
        campaign_assets,
        resources=resources,
        partition_key="pad",
        instance=instance,
        run_config={"ops": {"generated_clips": {"config": {"reroll_shot": "shot_1", "reroll_takes": 9}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure and e.step_key == "generated_clips")
    message = failure.step_failure_data.error.message
    assert "campaign 'pad': re-roll of shot 'shot_1': takes must be 1-8, not 9; nothing was submitted" in message
    assert "ValidationError" not in message and xai_emulator.count("GenerateVideo") == 0
