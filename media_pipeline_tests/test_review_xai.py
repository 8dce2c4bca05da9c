"""The review gate against the xAI emulator over gRPC (every API call counted) and through the ``media-pipeline``
command: approving makes no API call and no encode; a re-generated clip voids the approval; several SKU campaigns
are approved in one command, each on its own; a refusal is one clear error naming the campaign."""

import json
from pathlib import Path

import pytest
from dagster import AssetRecordsFilter, DagsterInstance

from media_pipeline.cli import main
from media_pipeline.factory import build_pipeline_defs
from media_pipeline.media.ffmpeg import ffmpeg_runs
from media_pipeline.partitions import PROJECT_PIPELINE
from media_pipeline.records import GeneratedClips
from media_pipeline.resources.drops import LocalDropZone
from media_pipeline.resources.io_manager import read_record
from media_pipeline.resources.publish import current_deliverable
from media_pipeline.review_cli import approve_campaign
from media_pipeline.runner import run_campaign

from .builders import local_cli_env, write_campaign
from .xai_builders import xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

MANIFEST = """\
resolution: 480p
duration: 1
review: required
deliverable: {transition: cut}
shots:
  - {image: shot_1.png, prompt: slow push in}
  - {image: shot_2.png, prompt: pan left}
"""


def test_approving_makes_no_api_call_and_a_new_clip_voids_the_approval(
    instance: DagsterInstance, drops_root, local_resources, xai_emulator
):
    folder = write_campaign(drops_root, "sku7", shots=2, manifest=MANIFEST, size=(160, 90))
    store = local_resources["store"]
    defs = build_pipeline_defs(
        drops=LocalDropZone(root=str(drops_root)), store=store, generator=xai_generator_for(xai_emulator)
    )
    drafted = run_campaign(defs, instance, "sku7", console_log_level="CRITICAL")
    assert drafted.status == "success" and xai_emulator.count("GenerateVideo", "OK") == 2
    assert drafted.review.status == "awaiting approval" and drafted.deliverables == []
    assert all(Path(p).is_file() for p in drafted.review.preview)  # the draft's files, to look at

    calls, runs = xai_emulator.calls, ffmpeg_runs()
    approved = approve_campaign(defs, instance, "sku7", approved_by="Bo Approver")
    assert approved.status == "approved", approved.error
    (event,) = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=PROJECT_PIPELINE.asset_key("deliverable"), asset_partitions=["sku7"]), limit=1
    ).records
    recorded = event.asset_materialization.metadata["approval"].value
    assert recorded["approved_by"] == "Bo Approver" and recorded["version"] == approved.version
    assert xai_emulator.calls == calls and ffmpeg_runs() == runs  # no API call of any kind, no encode
    clips = read_record(store, "generated_clips", "sku7", GeneratedClips)
    assert approved.clips == {c.shot: c.cache_key for c in clips.clips}
    assert approved.version == drafted.review.version == current_deliverable(store, "sku7").version
    assert all(Path(p).is_file() for p in approved.deliverables)

    (folder / "campaign.yaml").write_text(MANIFEST.replace("pan left", "pan right"), encoding="utf-8")
    changed = run_campaign(defs, instance, "sku7", console_log_level="CRITICAL")
    assert xai_emulator.count("GenerateVideo", "OK") == 3  # the changed shot only
    assert changed.review.status == "awaiting approval"
    assert f"approval of version {approved.version} does not apply to it: shot 'shot_2' has another clip" in (
        changed.review.detail
    )
    assert current_deliverable(store, "sku7").version == approved.version  # the approved set stays current

    calls = xai_emulator.calls
    again = approve_campaign(defs, instance, "sku7")
    assert again.status == "approved" and again.version == changed.review.version != approved.version
    assert again.clips["shot_2"] != approved.clips["shot_2"] and again.clips["shot_1"] == approved.clips["shot_1"]
    assert xai_emulator.calls == calls


def test_picking_the_other_take_voids_the_approval_and_pays_nothing(
    instance: DagsterInstance, drops_root, local_resources, xai_emulator_factory
):
    emulator = xai_emulator_factory(repeat_variants=2)  # the two takes differ, as a stochastic model's do
    manifest = MANIFEST.replace("review: required\n", "review: required\ntakes: 2\n").split("  - {image: shot_2")[0]
    folder = write_campaign(drops_root, "sku8", shots=1, manifest=manifest, size=(160, 90))
    store = local_resources["store"]
    defs = build_pipeline_defs(
        drops=LocalDropZone(root=str(drops_root)), store=store, generator=xai_generator_for(emulator)
    )
    assert run_campaign(defs, instance, "sku8", console_log_level="CRITICAL").review.status == "awaiting approval"
    assert emulator.count("GenerateVideo", "OK") == 2
    first = approve_campaign(defs, instance, "sku8")
    picked = read_record(store, "generated_clips", "sku8", GeneratedClips).clips[0]
    assert first.clips == {"shot_1": picked.cache_key}

    other = 3 - picked.take
    (folder / "campaign.yaml").write_text(
        manifest.replace("prompt: slow push in}", f"prompt: slow push in, pick: {other}}}"), encoding="utf-8"
    )
    calls = emulator.calls
    repicked = run_campaign(defs, instance, "sku8", console_log_level="CRITICAL")
    assert emulator.calls == calls  # the pick paid for nothing: not one call
    assert repicked.review.status == "awaiting approval"
    assert "shot 'shot_1' has another clip" in repicked.review.detail
    assert current_deliverable(store, "sku8").version == first.version

    second = approve_campaign(defs, instance, "sku8")
    assert second.status == "approved" and second.clips["shot_1"] != first.clips["shot_1"]
    assert read_record(store, "generated_clips", "sku8", GeneratedClips).clips[0].take == other
    assert emulator.calls == calls


def _cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    code = main(list(args))
    return code, json.loads(capsys.readouterr().out)


def test_the_command_approves_several_skus_each_on_its_own_and_refuses_clearly(
    tmp_path, capsys, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "home"
    for env, value in local_cli_env(home).items():
        monkeypatch.setenv(env, value)
    for sku in ("sku-a", "sku-b"):
        write_campaign(home / "drops", sku, shots=1, manifest=MANIFEST.split("shots:")[0], size=(160, 90))
        code, run = _cli(capsys, "run", sku, "--json")
        assert code == 0 and run["review"]["status"] == "awaiting approval"

    code, review = _cli(capsys, "review", "sku-a", "--json")
    assert code == 0 and review["status"] == "awaiting approval" and Path(review["preview"][0]).is_file()
    code, listed = _cli(capsys, "review", "--json")  # what a catalog's reviewer goes through
    assert [r["campaign"] for r in listed["awaiting_approval"]] == ["sku-a", "sku-b"]

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "reviewer"))  # another instance on the same store
    code, approved = _cli(capsys, "approve", "sku-a", "sku-b", "--json", "--by", "Ana Reviewer")
    assert code == 0 and approved["status"] == "success"
    assert [(a["campaign"], a["status"], a["approved_by"]) for a in approved["approvals"]] == [
        ("sku-a", "approved", "Ana Reviewer"),
        ("sku-b", "approved", "Ana Reviewer"),
    ]
    recorded = json.loads((home / "store/deliverables/sku-a/approval.json").read_text())
    assert recorded["approved_by"] == "Ana Reviewer" and recorded["run_id"] == approved["approvals"][0]["run_id"]
    assert Path(approved["approvals"][1]["deliverables"][0]) == home / "store/deliverables/sku-b/sku-b.mp4"

    code, refused = _cli(capsys, "approve", "sku-a", "ghost", "--json")  # one refusal does not hide the other
    assert code == 1 and refused["status"] == "failure"
    version = approved["approvals"][0]["version"]
    assert refused["approvals"][0]["error"] == (
        f"campaign 'sku-a': no draft awaits approval (version {version} is current); a run of a campaign with "
        "review: required makes one"
    )
    assert refused["approvals"][1]["error"].startswith("campaign 'ghost': no draft awaits approval")
    assert [a["run_id"] for a in refused["approvals"]] == [None, None]  # refused before a run: none recorded
    with DagsterInstance.from_config(str(tmp_path / "reviewer")) as reviewer:
        assert len(reviewer.get_runs()) == 2  # the two approvals
    code, review = _cli(capsys, "review", "sku-a", "--json")
    assert review["status"] == "approved" and review["approval"]["version"] == version
    assert review["approval"]["approved_by"] == "Ana Reviewer" and review["detail"].endswith("UTC by Ana Reviewer")
    assert _cli(capsys, "review", "--json") == (0, {"awaiting_approval": []})
