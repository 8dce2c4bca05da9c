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
from media_pipeline.campaign import CampaignError, load_campaign
from media_pipeline.records import GeneratedClips
from media_pipeline.resources.io_manager import read_record
from media_pipeline.takes import ShotChoices, make_plan, plan_problems

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


CHAINED_BATCH = (
    SMALL_MANIFEST
    + """\
mode: batch
shots:
  - image: shot_1.png
    prompt: push in
  - id: onward
    prompt: keep going
    chain: true
  - image: shot_2.png
    prompt: pan
"""
)


def test_a_batch_reroll_before_a_chained_shot_shows_its_own_cost_and_the_chained_at_most(tmp_path, xai_emulator):
    """The re-roll of a shot a chained shot follows said '2 new take(s), estimated $0.09' for ``--takes 1``; the
    emulator billed $0.045, the new take alone, as the pick stayed (identical takes tie, the earlier wins)."""
    write_campaign(tmp_path / "drops", "lane", shots=2, manifest=CHAINED_BATCH, size=(160, 90))
    env = dict(xai_cli_env(tmp_path, xai_emulator), MEDIA_PIPELINE_BATCH_POLL_SECONDS="0.5")
    first = _cli(env, "run", "lane", "--json")
    assert first.returncode == 0, first.stdout[-2000:]
    assert len(xai_emulator.paid_requests) == 3

    xai_emulator.reset_counts()
    rolled = _cli(env, "reroll", "lane", "shot_1", "--json")
    assert rolled.returncode == 0, rolled.stdout[-2000:]
    assert (
        "campaign lane: re-roll of shot shot_1: 1 new take(s), estimated $0.045; 1 take(s) of the shots chained "
        "after it, made anew only if its pick changes: at most $0.045 more"
    ) in rolled.stderr
    billed = xai_emulator.paid_requests
    assert len(billed) == 1 and billed[0].usd == pytest.approx(0.045)  # the new take, at the batch price
    assert json.loads(rolled.stdout)["cost_usd"] == pytest.approx(0.045)

    again = _cli(env, "reroll", "lane", "shot_2")  # the summary said 'cached $0.045 cache hit' for a paid take
    assert again.returncode == 0 and "re-roll of shot shot_2: 1 new take(s), estimated $0.045\n" in again.stdout
    assert "$0.045  picked take cached, other takes paid" in again.stdout


def _picked(instance, resources, campaign: str, generation: dict | None = None) -> int:
    """Run the campaign (``generation``: the Launchpad's run config) and return the take delivered for shot_1."""
    run_config = {"ops": {"generated_clips": {"config": generation}}} if generation else None
    result = materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, run_config=run_config
    )
    assert result.success
    clips = read_record(resources["store"], "generated_clips", campaign, GeneratedClips).clips
    return next(c.take for c in clips if c.shot == "shot_1")


def test_a_launchpad_pick_gives_way_to_a_reroll_and_to_pick_0(
    instance, drops_root, local_resources, xai_emulator_factory
):
    """A pick from the Launchpad was kept for ever: a later re-roll of that shot paid for takes that could never be
    delivered, and no run config could hand the pick back to the scores."""
    emulator = xai_emulator_factory(drift_repeats=(2,))  # the 2nd identical request starts on another picture
    write_campaign(drops_root, "pad", shots=1, manifest=SMALL_MANIFEST + "takes: 2\n", size=(160, 90))
    add_campaign_partition(instance, "pad")
    resources = dict(local_resources, generator=xai_generator_for(emulator))
    kept = local_resources["store"]
    clean = _picked(instance, resources, "pad")  # the two takes went out at once: either may be the drifting one
    looks = {p.request_id: p.look for p in emulator.paid_requests}
    record = read_record(kept, "generated_clips", "pad", GeneratedClips).clips[0]
    drifted = next(t.take for t in record.takes if looks[t.request_id] == "drift")
    assert clean == 3 - drifted
    assert _picked(instance, resources, "pad", {"picks": {"shot_1": drifted}}) == drifted  # by hand, kept
    assert _picked(instance, resources, "pad") == drifted and len(emulator.paid_requests) == 2

    assert _picked(instance, resources, "pad", {"reroll_shot": "shot_1"}) == clean  # take 3 ties: the earlier wins
    assert len(emulator.paid_requests) == 3 and emulator.paid_requests[-1].look == "clean"
    assert ShotChoices.model_validate_json(kept.get_bytes("takes/pad/shot_1.json")).pick is None

    assert _picked(instance, resources, "pad", {"picks": {"shot_1": drifted}}) == drifted
    assert _picked(instance, resources, "pad", {"picks": {"shot_1": 0}}) == clean  # 0: the scores pick again
    assert _picked(instance, resources, "pad") == clean and len(emulator.paid_requests) == 3  # picks paid nothing


@pytest.mark.parametrize(("takes", "shown"), [("9", "9"), ("0", "0"), ("[]", "[]"), ("true", "True")])
def test_a_bad_takes_count_is_one_message_naming_the_key(takes: str, shown: str):
    """``takes: 9`` said 'shots.0.takes.constrained-int: ...; shots.0.takes.list[TakeSpec]: ...': pydantic's union."""
    manifest = f"shots:\n  - image: a.png\n    takes: {takes}\n"
    with pytest.raises(CampaignError) as refused:
        load_campaign("sku-1", ["a.png"], manifest)
    assert str(refused.value) == (
        f"campaign 'sku-1', file campaign.yaml: shot 'a', key 'takes': Value error, a number of takes or a list of "
        f"{{model: ...}}, 1-8, not {shown}"
    )
    with pytest.raises(
        CampaignError, match=r"^campaign 'sku-1', file campaign.yaml: shot 'a', unknown key 'takes.list"
    ):
        load_campaign("sku-1", ["a.png"], manifest.replace(takes, "[{colour: red}]"))


def test_a_reroll_of_a_shot_the_manifest_picks_is_refused_before_paying(tmp_path, xai_emulator):
    """The manifest's ``pick`` wins over the scores, so the re-roll paid for a take that could never be delivered."""
    manifest = SMALL_MANIFEST + "shots:\n  - {image: shot_1.png, pick: 1}\n"
    write_campaign(tmp_path / "drops", "pinned", shots=1, manifest=manifest, size=(160, 90))
    refused = _cli(xai_cli_env(tmp_path, xai_emulator), "reroll", "pinned", "shot_1", "--json")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"] == (
        "campaign 'pinned': re-roll of shot 'shot_1': campaign.yaml picks its take 1 (key 'pick'), so a new take "
        "would never be delivered; remove the pick first"
    )
    assert xai_emulator.count("GenerateVideo") == 0


def test_a_manifest_pick_beyond_the_takes_names_the_key_and_a_run_config_pick_its_shot():
    """A manifest ``pick: 3`` on a one-take shot said only "shot 'a': pick 3 ...", like a Launchpad pick."""
    campaign = load_campaign("sku-1", ["a.png", "b.png"], "shots:\n  - {image: a.png, pick: 3}\n  - image: b.png\n")
    assert plan_problems(make_plan(campaign, {}), {}, None) == [
        "shot 'a', key 'pick' of campaign.yaml: take 3 is not one of its takes (1-1)"
    ]
    assert plan_problems(make_plan(campaign, {}, picks={"b": 2}), {"b": 2}, None)[1] == (
        "shot 'b': pick 2 is not one of its takes (1-1)"
    )
