"""The media-pipeline command as a user runs it: a subprocess with its own home and Dagster instance."""

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from media_pipeline.media.probe import probe

from .builders import SMALL_MANIFEST, write_campaign


def _cli(args, home: Path, **extra) -> subprocess.CompletedProcess:
    env = dict(os.environ, MEDIA_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), TMPDIR=str(home),
               **extra)
    env.pop("XAI_API_KEY", None)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "media_pipeline.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_run_json_materializes_on_the_instance_and_summarizes(tmp_path):
    write_campaign(tmp_path / "drops", "launch", shots=2, manifest=SMALL_MANIFEST)
    done = _cli(["run", "launch", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["campaign"] == "launch" and summary["status"] == "success"
    assert [(s["shot"], s["status"], s["cache_hit"]) for s in summary["shots"]] == [
        ("shot_1", "generated", False), ("shot_2", "generated", False)
    ]
    master = Path(summary["deliverables"][0])
    assert probe(master).video_codec == "h264"
    assert summary["api_calls"] == 0 and summary["cost_usd"] == 0

    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_dynamic_partitions("campaigns") == ["launch"]
        event = instance.get_latest_materialization_event(AssetKey("deliverable"))
        assert event.asset_materialization.partition == "launch"

    again = json.loads(_cli(["run", "launch", "--json"], tmp_path).stdout)
    assert [s["cache_hit"] for s in again["shots"]] == [True, True]


def test_run_of_a_broken_campaign_exits_non_zero_with_the_reason(tmp_path):
    write_campaign(tmp_path / "drops", "broken", shots=1, manifest="duration: 99\n")
    done = _cli(["run", "broken", "--json"], tmp_path)
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["status"] == "failure" and "duration" in summary["error"] and "broken" in summary["error"]


def test_demo_delivers_a_playable_mp4_matching_the_manifest(tmp_path):
    done = _cli(["demo"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    master = tmp_path / "store" / "deliverables" / "demo" / "demo.mp4"
    assert str(master) in done.stdout
    info = probe(master)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert abs(info.video_duration - (4 * 2 - 3 * 0.5)) <= 1 / 24 + 1e-3


def test_a_bad_or_missing_campaign_is_a_clear_failure_and_registers_nothing(tmp_path):
    (tmp_path / "drops").mkdir()
    bad = _cli(["run", "Bad_Name", "--json"], tmp_path)
    assert bad.returncode == 1 and "must match" in json.loads(bad.stdout)["error"]
    missing = _cli(["run", "nosuch", "--json"], tmp_path)
    assert missing.returncode == 1 and "nothing was dropped" in json.loads(missing.stdout)["error"]
    estimate = _cli(["estimate", "nosuch"], tmp_path)
    assert estimate.returncode == 1 and "nothing was dropped" in estimate.stderr
    assert "Traceback" not in bad.stderr + missing.stderr + estimate.stderr
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_dynamic_partitions("campaigns") == []


def test_estimate_of_a_broken_manifest_exits_non_zero_with_the_reason(tmp_path):
    write_campaign(tmp_path / "drops", "typo", shots=1, manifest="resolutoin: 720p\n")
    done = _cli(["estimate", "typo"], tmp_path)
    assert done.returncode == 1 and "unknown key 'resolutoin'" in done.stderr and "Traceback" not in done.stderr
