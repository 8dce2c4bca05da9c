"""Takes, picks and re-rolls through the real SDK, the emulator and a real Dagster instance.

Each take is its own paid request; the emulator makes the 2nd identical request of a shot drift (another picture)
and the 3rd freeze, so the scores must pick the clean take whichever order the takes arrived in. A pick by hand
and a re-run pay for nothing; a re-roll pays for its shot's new takes only; takes on two models show side by side
with the costs the emulator billed.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.files import file_digest
from media_pipeline.media.frames import extract_frame
from media_pipeline.media.quality import first_frame_fidelity
from media_pipeline.records import Deliverable, GeneratedClips
from media_pipeline.resources.io_manager import read_record

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition
from .xai_builders import xai_cli_env, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]


def _run(instance, resources, campaign: str, generation: dict | None = None):
    run_config = {"ops": {"generated_clips": {"config": generation}}} if generation else None
    result = materialize(
        campaign_assets, resources=resources, partition_key=campaign, instance=instance, run_config=run_config
    )
    assert result.success
    return result


def _metadata(instance, asset: str = "generated_clips") -> dict:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _table(markdown: str) -> list[dict[str, str]]:
    """The rows of a metadata Markdown table (``assets/metadata.shot_table``)."""
    lines = markdown.splitlines()
    columns = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def _clips(resources, campaign: str) -> dict:
    return {c.shot: c for c in read_record(resources["store"], "generated_clips", campaign, GeneratedClips).clips}


@pytest.mark.slow
def test_three_takes_the_clean_one_is_delivered_and_a_pick_by_hand_pays_nothing(
    instance, drops_root, local_resources, xai_emulator_factory
):
    emulator = xai_emulator_factory(drift_repeats=(2,), freeze_repeats=(3,))
    folder = write_campaign(drops_root, "trio", shots=2, manifest=SMALL_MANIFEST + "takes: 3\n", size=(160, 90))
    add_campaign_partition(instance, "trio")
    resources = dict(local_resources, generator=xai_generator_for(emulator))

    _run(instance, resources, "trio")
    paid = {p.request_id: p for p in emulator.paid_requests}
    assert len(paid) == 6 and emulator.stats["paid"]["looks"] == {"drift": 2, "freeze": 2}
    clips = _clips(resources, "trio")
    for shot in ("shot_1", "shot_2"):
        clip = clips[shot]
        assert [t.take for t in clip.takes] == [1, 2, 3]
        assert paid[clip.request_id].look == "clean"  # whichever take arrived first and so came out clean
        looks = {paid[t.request_id].look: t for t in clip.takes}
        assert looks["drift"].scores["first_frame_ssim"] < 0.5 and looks["freeze"].scores["frozen_seconds"] >= 0.5
        assert clip.pick_reason.startswith(f"take {clip.take} scored") and "starts on another picture" in (
            clip.pick_reason
        )
        assert clip.cost_usd == pytest.approx(sum(paid[t.request_id].usd for t in clip.takes))
    meta = _metadata(instance)
    rows = _table(meta["takes"])
    assert len(rows) == 6 and sum(r["picked"] == "yes" for r in rows) == 2
    assert {r["clip"] for r in rows} == {str(Path(resources["store"].root) / t.clip_key) for c in clips.values()
                                          for t in c.takes}  # fmt: skip
    assert all(meta[f"preview.{s}.take_{n}"].startswith("![") for s in ("shot_1", "shot_2") for n in (1, 2, 3))
    assert len(_table(meta["picks"])) == 2
    store = Path(resources["store"].root)
    assert all((store / f"clips/{t.cache_key}.scores.json").is_file() for c in clips.values() for t in c.takes)
    delivered = read_record(resources["store"], "deliverable", "trio", Deliverable)
    assert first_frame_fidelity(store / delivered.master_key, folder / "shot_1.png") > 0.5  # the clean take

    emulator.reset_counts()  # a pick by hand of shot_1's drifted take: a new deliverable, no API call
    drifted = next(t.take for t in clips["shot_1"].takes if paid[t.request_id].look == "drift")
    _run(instance, resources, "trio", {"picks": {"shot_1": drifted}})
    assert emulator.count("GenerateVideo") == 0 and emulator.paid_requests == []
    picked = _clips(resources, "trio")["shot_1"]
    assert picked.take == drifted and picked.pick_reason == f"take {drifted} picked by hand"
    redelivered = read_record(resources["store"], "deliverable", "trio", Deliverable)
    assert redelivered.version != delivered.version
    assert first_frame_fidelity(store / redelivered.master_key, folder / "shot_1.png") < 0.5

    _run(instance, resources, "trio")  # the pick is kept for later runs; still nothing paid
    assert _clips(resources, "trio")["shot_1"].take == drifted and emulator.count("GenerateVideo") == 0


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "media_pipeline.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_reroll_pays_for_its_shot_only_and_its_takes_stay_candidates(tmp_path, xai_emulator):
    write_campaign(tmp_path / "drops", "reroll", shots=3, manifest=SMALL_MANIFEST, size=(160, 90))
    env = xai_cli_env(tmp_path, xai_emulator)
    assert _cli(env, "run", "reroll", "--json").returncode == 0
    assert xai_emulator.count("GenerateVideo", "OK") == 3

    xai_emulator.reset_counts()
    unknown = _cli(env, "reroll", "reroll", "shot_2", "--model", "grok-imagine-video-9")
    assert unknown.returncode == 1 and "shot 'shot_2', take 2: unknown model 'grok-imagine-video-9'" in unknown.stderr
    rolled = _cli(env, "reroll", "reroll", "shot_2", "--takes", "2", "--json")
    assert rolled.returncode == 0, rolled.stderr[-2000:]
    assert "re-roll of shot shot_2: 2 new take(s), estimated $0.18" in rolled.stderr  # shown before paying
    paid = xai_emulator.paid_requests
    assert len(paid) == 2 and sum(p.usd for p in paid) == pytest.approx(0.18)  # that shot's new takes only
    summary = json.loads(rolled.stdout)
    assert summary["status"] == "success" and summary["cost_usd"] == pytest.approx(0.18)
    costs = {s["shot"]: s["cost_usd"] for s in summary["shots"]}
    assert costs == pytest.approx({"shot_1": 0, "shot_2": 0.18, "shot_3": 0})
    kept = json.loads((tmp_path / "store/takes/reroll/shot_2.json").read_text())
    assert kept["rolled"] == ["grok-imagine-video-1.5-preview"] * 2

    xai_emulator.reset_counts()  # a plain run: the re-rolled takes stay candidates, nothing is paid
    plain = _cli(env, "run", "reroll", "--json")
    assert plain.returncode == 0 and xai_emulator.count("GenerateVideo") == 0
    estimate = _cli(env, "estimate", "reroll")
    assert "0 uncached shot(s), estimated $0.00" in estimate.stdout, estimate.stderr[-2000:]
    clips = read_record_from(tmp_path / "store", "reroll")
    assert [t.take for t in clips["shot_2"].takes] == [1, 2, 3] and not clips["shot_1"].takes


def read_record_from(store: Path, campaign: str) -> dict:
    from media_pipeline.resources.store import LocalMediaStore

    record = read_record(LocalMediaStore(root=str(store)), "generated_clips", campaign, GeneratedClips)
    return {c.shot: c for c in record.clips}


@pytest.mark.slow
def test_a_launchpad_reroll_and_takes_on_two_models_side_by_side_with_the_billed_costs(
    instance, drops_root, local_resources, xai_emulator
):
    models = "takes: [{model: grok-imagine-video-1.5}, {model: grok-imagine-video-1.5-lite}]\n"
    write_campaign(drops_root, "models", shots=2, manifest=SMALL_MANIFEST + models, size=(160, 90))
    add_campaign_partition(instance, "models")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    _run(instance, resources, "models")
    billed = {p.request_id: p for p in xai_emulator.paid_requests}
    rows = _table(_metadata(instance)["takes"])
    assert [(r["shot"], r["take"], r["model"]) for r in rows] == [
        (shot, take, model)
        for shot in ("shot_1", "shot_2")
        for take, model in (("1", "grok-imagine-video-1.5"), ("2", "grok-imagine-video-1.5-lite"))
    ]
    for row in rows:  # the cost of each take is what the emulator billed its request, on the model it names
        assert billed[row["request_id"]].model == row["model"]
        assert float(row["cost_usd"]) == pytest.approx(billed[row["request_id"]].usd)
        assert float(row["latency_s"]) > 0 and float(row["score"]) > 0.5

    xai_emulator.reset_counts()  # from the Launchpad: one new take of shot_1 on the lite model
    _run(instance, resources, "models", {"reroll_shot": "shot_1", "reroll_model": "grok-imagine-video-1.5-lite"})
    assert [(p.model, round(p.usd, 4)) for p in xai_emulator.paid_requests] == [("grok-imagine-video-1.5-lite", 0.09)]
    assert len(_table(_metadata(instance)["takes"])) == 5


def test_the_budget_counts_every_take_before_anything_is_paid(instance, drops_root, local_resources, xai_emulator):
    manifest = SMALL_MANIFEST + "takes: 3\nbudget_usd: 0.2\n"  # one shot, three takes of $0.09
    write_campaign(drops_root, "thrift", shots=1, manifest=manifest, size=(160, 90))
    add_campaign_partition(instance, "thrift")
    resources = dict(local_resources, generator=xai_generator_for(xai_emulator))
    result = materialize(
        campaign_assets, resources=resources, partition_key="thrift", instance=instance, raise_on_error=False
    )
    message = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "the 3 uncached take(s) is estimated at $0.27" in message and "nothing was submitted" in message
    assert xai_emulator.count("GenerateVideo") == 0


@pytest.mark.slow
def test_a_chained_shot_starts_from_the_last_frame_of_the_picked_take(
    instance, drops_root, local_resources, xai_emulator_factory, tmp_path
):
    emulator = xai_emulator_factory(repeat_variants=2)  # a shot's two takes come out a little different
    manifest = SMALL_MANIFEST + (
        "shots:\n  - {image: shot_1.png, takes: 2, pick: 2}\n  - {id: after, chain: true, prompt: the camera rises}\n"
    )
    write_campaign(drops_root, "chain", shots=1, manifest=manifest, size=(160, 90))
    add_campaign_partition(instance, "chain")
    resources = dict(local_resources, generator=xai_generator_for(emulator))
    _run(instance, resources, "chain")
    clips = _clips(resources, "chain")
    store = Path(resources["store"].root)
    last = {}
    for take in clips["shot_1"].takes:
        frame = extract_frame(store / take.clip_key, tmp_path / f"{take.take}.png", which="last")
        last[take.take] = f"sources/{file_digest(frame)}.png"
    assert clips["shot_1"].take == 2 and last[1] != last[2]
    assert clips["after"].source_key == last[2] and clips["after"].status == "generated"
    assert emulator.count("GenerateVideo", "OK") == 3


@pytest.mark.slow
def test_batch_mode_sends_every_take_and_chains_from_the_clean_pick_in_the_next_wave(
    instance, drops_root, local_resources, xai_emulator_factory, monkeypatch
):
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_WAIT_SECONDS", "60")
    monkeypatch.setenv("MEDIA_PIPELINE_BATCH_POLL_SECONDS", "0.05")
    emulator = xai_emulator_factory(drift_repeats=(2,), freeze_repeats=(3,))
    manifest = SMALL_MANIFEST + "mode: batch\ntakes: 3\nshots:\n  - {image: shot_1.png}\n  - {id: next, chain: true}\n"
    write_campaign(drops_root, "batched", shots=1, manifest=manifest, size=(160, 90))
    add_campaign_partition(instance, "batched")
    resources = dict(local_resources, generator=xai_generator_for(emulator))
    _run(instance, resources, "batched")
    paid = emulator.stats["paid"]
    assert emulator.count("CreateBatch", "OK") == 2 and emulator.count("GenerateVideo") == 0  # a wave per shot
    assert paid["batch_requests"] == 6 and paid["looks"] == {"drift": 2, "freeze": 2}
    clips = _clips(resources, "batched")
    for clip in clips.values():
        assert len(clip.takes) == 3 and clip.scores["first_frame_ssim"] > 0.5 and clip.scores["frozen_seconds"] < 0.5
    assert clips["next"].source_key != clips["shot_1"].source_key
    assert _metadata(instance)["xai.cost_usd"] == pytest.approx(paid["usd"])


@pytest.mark.slow
def test_takes_run_at_once_within_the_generators_concurrency(
    instance, drops_root, local_resources, xai_emulator_factory
):
    emulator = xai_emulator_factory(max_concurrent=2, latency_seconds=0.5)  # more at once: RESOURCE_EXHAUSTED
    manifest = SMALL_MANIFEST + "shots:\n  - {image: shot_1.png}\n  - {image: shot_2.png, takes: 3}\n"
    write_campaign(drops_root, "busy", shots=2, manifest=manifest, size=(160, 90))
    add_campaign_partition(instance, "busy")
    resources = dict(local_resources, generator=xai_generator_for(emulator, max_concurrent=2))
    _run(instance, resources, "busy")
    assert emulator.count("GenerateVideo", "OK") == 4 and emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 0
