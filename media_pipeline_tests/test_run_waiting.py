"""``media-pipeline run`` on a batch campaign whose shots are still in an open xAI batch says ``waiting``: not a
failure, not a success without shots. The command runs in a subprocess against the emulator, as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .builders import write_campaign
from .xai_builders import TEST_API_KEY

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

BATCH = "mode: batch\nresolution: 480p\nduration: 1\ndeliverable: {transition: cut}\n"


def _run(tmp_path, emulator, wait_seconds: str, *flags: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    env = dict(os.environ, MEDIA_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), TMPDIR=str(home),
               MEDIA_PIPELINE_DROPS=str(tmp_path / "drops"), XAI_API_KEY=TEST_API_KEY,
               XAI_API_HOST=emulator.api_host, XAI_USE_INSECURE_CHANNEL="1",
               MEDIA_PIPELINE_BATCH_WAIT_SECONDS=wait_seconds, MEDIA_PIPELINE_BATCH_POLL_SECONDS="0.1")  # fmt: skip
    command = [sys.executable, "-m", "media_pipeline.cli", "run", "overnight", *flags]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_run_that_leaves_shots_in_an_open_batch_says_waiting_and_a_later_run_delivers(tmp_path, xai_emulator_factory):
    emulator = xai_emulator_factory(batch_latency_seconds=40)  # outlasts the first two runs
    write_campaign(tmp_path / "drops", "overnight", shots=2, size=(160, 90), manifest=BATCH)

    first = _run(tmp_path, emulator, "0", "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    assert summary["status"] == "waiting" and summary["error"] is None
    assert sorted(s["shot"] for s in summary["shots"]) == ["shot_1", "shot_2"]
    assert {s["status"] for s in summary["shots"]} == {"waiting"}
    assert all(s["request_id"].startswith("batch_") for s in summary["shots"])  # <batch_id>.<cache key>
    assert summary["deliverables"] == []

    plain = _run(tmp_path, emulator, "0")  # the text form says it too, and sends nothing new
    assert plain.returncode == 0 and "campaign overnight: waiting" in plain.stdout
    assert emulator.count("CreateBatch", "OK") == 1

    done = _run(tmp_path, emulator, "60", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    delivered = json.loads(done.stdout)
    assert delivered["status"] == "success" and {s["status"] for s in delivered["shots"]} == {"generated"}
    assert delivered["deliverables"] and emulator.count("CreateBatch", "OK") == 1
