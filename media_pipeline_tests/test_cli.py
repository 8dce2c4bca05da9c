"""The media-pipeline command as a user runs it: a subprocess with its own home and Dagster instance."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from media_pipeline.media.probe import probe

from .builders import SMALL_MANIFEST, write_campaign


def _env(home: Path, **extra) -> dict[str, str]:
    env = dict(os.environ, MEDIA_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), TMPDIR=str(home), **extra)
    env.pop("XAI_API_KEY", None)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return env


def _cli(args, home: Path, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "media_pipeline.cli", *args],
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _cli_background(args, home: Path) -> subprocess.Popen:
    """The command started in its own process group (so a test can kill it with its ffmpeg children)."""
    return subprocess.Popen(
        [sys.executable, "-m", "media_pipeline.cli", *args],
        env=_env(home),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def test_run_json_materializes_on_the_instance_and_summarizes(tmp_path):
    write_campaign(tmp_path / "drops", "launch", shots=2, manifest=SMALL_MANIFEST)
    done = _cli(["run", "launch", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["campaign"] == "launch" and summary["status"] == "success"
    assert [(s["shot"], s["status"], s["cache_hit"]) for s in summary["shots"]] == [
        ("shot_1", "generated", False),
        ("shot_2", "generated", False),
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


def test_estimate_json_lists_each_uncached_shot_and_nothing_once_delivered(tmp_path):
    write_campaign(tmp_path / "drops", "priced", shots=2, manifest=SMALL_MANIFEST + "takes: 2\n")
    before = _cli(["estimate", "priced", "--json"], tmp_path)
    assert before.returncode == 0, before.stderr[-3000:]
    said = json.loads(before.stdout)
    assert said["campaign"] == "priced" and said["takes"] == 4 and said["usd"] == 0.0  # the local generator is free
    assert said["shots"] == {"shot_1": {"takes": 2, "usd": 0.0}, "shot_2": {"takes": 2, "usd": 0.0}}
    assert _cli(["run", "priced", "--json"], tmp_path).returncode == 0
    after = json.loads(_cli(["estimate", "priced", "--json"], tmp_path).stdout)
    assert after == {"campaign": "priced", "shots": {}, "takes": 0, "usd": 0.0}
    missing = _cli(["estimate", "nosuch", "--json"], tmp_path)
    assert missing.returncode == 1 and "nothing was dropped" in json.loads(missing.stdout)["error"]


def test_estimate_of_a_broken_manifest_exits_non_zero_with_the_reason(tmp_path):
    write_campaign(tmp_path / "drops", "typo", shots=1, manifest="resolutoin: 720p\n")
    done = _cli(["estimate", "typo"], tmp_path)
    assert done.returncode == 1 and "unknown key 'resolutoin'" in done.stderr and "Traceback" not in done.stderr


def test_a_new_dagster_home_gets_run_monitoring(tmp_path):
    (tmp_path / "drops").mkdir()
    _cli(["run", "nosuch", "--json"], tmp_path)
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.run_monitoring_enabled


@pytest.mark.slow
def test_text_output_names_a_bad_image_once_and_no_dagster_wrapper(tmp_path):
    folder = write_campaign(tmp_path / "drops", "mixed", shots=2, manifest=SMALL_MANIFEST)
    (folder / "shot_2.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    done = _cli(["run", "mixed"], tmp_path)
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert said.count("not a decodable image") == 1, said
    assert "shot_2.png" in said and "Traceback" not in said and "Error occurred while executing" not in said
    assert str(tmp_path) + "/media_pipeline-runs" not in said


@pytest.mark.slow
def test_two_first_runs_of_a_new_campaign_at_once_both_proceed(tmp_path):
    write_campaign(tmp_path / "drops", "twice", shots=1, manifest=SMALL_MANIFEST)
    runs = [_cli_background(["run", "twice", "--json"], tmp_path) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0 and "IntegrityError" not in stderr, stderr[-3000:]
        assert json.loads(stdout)["status"] == "success"
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_dynamic_partitions("campaigns") == ["twice"]


@pytest.mark.slow
def test_a_run_killed_hard_is_marked_failed_and_its_temp_folder_removed_by_the_next_command(tmp_path):
    write_campaign(tmp_path / "drops", "killed", shots=3, manifest=SMALL_MANIFEST)
    victim = _cli_background(["run", "killed", "--json"], tmp_path)
    scratch = tmp_path / "media_pipeline-runs" / f"{socket.gethostname()}-{victim.pid}"
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        deadline = time.monotonic() + 120
        while not instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
            assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()[1][-3000:]
            time.sleep(0.2)
        assert scratch.is_dir()
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        [killed] = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))

        again = _cli(["run", "killed", "--json"], tmp_path)
        assert again.returncode == 0 and json.loads(again.stdout)["status"] == "success", again.stderr[-3000:]
        assert instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.FAILURE
        assert not scratch.exists()
        assert list((tmp_path / "media_pipeline-runs").iterdir()) == []  # the second run cleaned its own too


def test_a_refused_aws_secret_is_a_clean_exit_1_naming_the_variable(tmp_path, seaweed_s3):
    write_campaign(tmp_path / "drops", "keys", shots=1, manifest=SMALL_MANIFEST)
    bucket = seaweed_s3.make_bucket()
    env = dict(seaweed_s3.env(), AWS_SECRET_ACCESS_KEY="not-the-secret", MEDIA_PIPELINE_STORE=f"s3://{bucket}/media")
    done = _cli(["run", "keys", "--json"], tmp_path, **env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    error = json.loads(done.stdout)["error"]
    assert "AWS_SECRET_ACCESS_KEY" in error and "not-the-secret" not in error
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.get_dynamic_partitions("campaigns") == []


def test_amounts_keep_a_half_cent() -> None:
    """A batch clip at $0.045 is not shown as $0.04 (or $0.05): the estimate shows what will be billed."""
    from media_pipeline.cli import usd

    assert [usd(0.045), usd(0.27), usd(2.16), usd(0.0)] == ["$0.045", "$0.27", "$2.16", "$0.00"]


def test_the_approver_is_the_login_name_unless_named() -> None:
    import getpass

    from media_pipeline.campaign import CampaignError
    from media_pipeline.cli import _approver

    assert _approver(None) == getpass.getuser()
    assert _approver("  Ana Reviewer ") == "Ana Reviewer"
    with pytest.raises(CampaignError, match="at most 100 characters"):
        _approver("x" * 101)
