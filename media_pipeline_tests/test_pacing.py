"""Request pacing against the emulator at xAI's real rate (``--rps 1``, polls counted too): a campaign alone on its
key is never refused and its submits reach the API at least 1 s apart; two campaigns run by two processes on one
instance share the budget; the PostgreSQL backend shares it between two pacers ("machines"); polls wait for a clip
to be plausibly done. Spacing is read from the emulator's ``/_stats`` (``submits[].at``, its own clock).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import requests
from dagster import DagsterInstance, materialize

from media_pipeline.assets import campaign_assets
from media_pipeline.media.probe import probe
from media_pipeline.resources.xai.pacing import Pacer, PollSchedule, budget_name, pacing_url, window_rate

from .builders import SMALL_MANIFEST, write_campaign
from .conftest import add_campaign_partition
from .xai_builders import TEST_API_KEY, xai_generator_for

pytest_plugins = ["media_pipeline_tests.xai_fixtures", "media_pipeline_tests.postgres_fixtures"]


def _submit_times(emulator) -> list[float]:
    stats = requests.get(f"{emulator.http_base}/_stats", timeout=10).json()
    return sorted(s["at"] for s in stats["submits"])


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_window_matches_the_api_and_names_hide_the_key():
    assert (window_rate(1).limit, window_rate(1).interval) == (1, 1100)
    assert (window_rate(0.5).limit, window_rate(0.5).interval) == (1, 2100)
    assert (window_rate(3, margin_ms=0).limit, window_rate(3, margin_ms=0).interval) == (3, 1000)
    name = budget_name("api.x.ai", TEST_API_KEY, "grok-imagine-video-1.5", "requests")
    assert TEST_API_KEY not in name and name.isidentifier() and len(name) < 40
    assert name != budget_name("127.0.0.1:1", TEST_API_KEY, "grok-imagine-video-1.5", "requests")
    assert pacing_url({"DAGSTER_HOME": "/x"}).endswith("/x/media_pipeline_pacing.sqlite")
    assert pacing_url({"MEDIA_PIPELINE_PACING_URL": "postgresql://h/db"}) == "postgresql://h/db"


def test_polls_wait_for_a_plausible_clip_then_learn_the_latency():
    schedule = PollSchedule(6.0, min_interval=0.5)
    assert schedule.first_poll(4) == 12.0  # half the typical 6 s per second of video
    assert schedule.next_poll(20.0) == 2.0  # 10 % of the age
    assert schedule.first_poll(1) == 18.0  # a request was still pending at 20 s: none younger is polled before 18 s
    schedule.finished(10.0)
    assert schedule.first_poll(8) == 9.0  # learnt: 0.9 x the quickest finished clip


@pytest.mark.slow
def test_a_twelve_shot_campaign_at_one_request_per_second_is_never_refused(
    instance, drops_root, local_resources, xai_emulator_factory
):
    emulator = xai_emulator_factory(rps=1, rps_polls=True, latency_seconds=2.0)
    write_campaign(drops_root, "paced", shots=12, size=(160, 90), manifest=SMALL_MANIFEST)
    add_campaign_partition(instance, "paced")
    generator = xai_generator_for(emulator, rps=None, first_poll_seconds=None, poll_interval_seconds=0.5,
                                  max_concurrent=12)  # fmt: skip
    resources = dict(local_resources, generator=generator)
    assert materialize(campaign_assets, resources=resources, partition_key="paced", instance=instance).success

    times = _submit_times(emulator)
    assert len(times) == 12 and min(_gaps(times)) >= 1.0, _gaps(times)
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 0
    assert emulator.count("GetDeferredVideo", "RESOURCE_EXHAUSTED") == 0
    assert emulator.count("GetDeferredVideo") <= 2 * 12  # no poll storm: the first poll waits for the clip
    store = Path(local_resources["store"].root)
    assert probe(store / "deliverables/paced/paced.mp4").video_duration == pytest.approx(12 - 11 * 0.25, abs=0.1)


@pytest.mark.slow
def test_two_campaigns_in_two_processes_share_one_budget(tmp_path, xai_emulator_factory):
    emulator = xai_emulator_factory(rps=1, latency_seconds=1.0)
    home = tmp_path / "home"
    for campaign in ("north", "south"):
        manifest = SMALL_MANIFEST.replace("soft light", f"{campaign} light")  # other prompts: other clips
        write_campaign(home / "drops", campaign, shots=4, size=(160, 90), manifest=manifest)
    env = dict(os.environ, MEDIA_PIPELINE_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), TMPDIR=str(home),
               MEDIA_PIPELINE_GENERATOR="xai", XAI_API_KEY=TEST_API_KEY, XAI_API_HOST=emulator.api_host,
               XAI_USE_INSECURE_CHANNEL="1")  # fmt: skip
    env.pop("MEDIA_PIPELINE_PACING_URL", None)
    (home / "dagster").mkdir(parents=True)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "media_pipeline.cli", "run", campaign, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for campaign in ("north", "south")
    ]
    outputs = [run.communicate(timeout=240) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]

    times = _submit_times(emulator)
    assert len(times) == 8 and min(_gaps(times)) >= 1.0, _gaps(times)
    assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") == 0
    assert (home / "dagster" / "media_pipeline_pacing.sqlite").is_file()  # the budget beside the instance
    for campaign in ("north", "south"):
        assert (home / "store" / "deliverables" / campaign / f"{campaign}.mp4").is_file()


PG_INSTANCE = """
storage:
  postgres:
    postgres_db:
      username: {env: DAGSTER_PG_USERNAME}
      password: {env: DAGSTER_PG_PASSWORD}
      hostname: {env: DAGSTER_PG_HOST}
      port: {env: DAGSTER_PG_PORT}
      db_name: {env: DAGSTER_PG_DB}
"""


def test_the_budget_lives_beside_the_instance(postgres_env, tmp_path):
    (tmp_path / "pg").mkdir()
    (tmp_path / "pg" / "dagster.yaml").write_text(PG_INSTANCE, encoding="utf-8")
    with DagsterInstance.from_config(str(tmp_path / "pg")) as instance:
        url = pacing_url({}, instance)
    assert url.startswith("postgresql://") and url.endswith(f"/{postgres_env['DAGSTER_PG_DB']}")
    pacer = Pacer(url)
    try:
        with pacer.slot("xai_instance_test_requests", 1.0):
            pass
    finally:
        pacer.close()
    with psycopg.connect(url) as connection:  # the slot is a row in the instance's own database
        assert connection.execute('SELECT count(*) FROM "ratelimit___xai_instance_test_requests"').fetchone() == (1,)
    with DagsterInstance.ephemeral(tempdir=str(tmp_path / "local")) as instance:
        assert pacing_url({}, instance) == f"sqlite:///{tmp_path / 'local' / 'media_pipeline_pacing.sqlite'}"


def test_the_postgresql_budget_is_shared_by_two_pacers(postgres_server):
    url = postgres_server.env(postgres_server.create_database())
    dsn = (f"postgresql://{url['DAGSTER_PG_USERNAME']}:{url['DAGSTER_PG_PASSWORD']}@{url['DAGSTER_PG_HOST']}:"
           f"{url['DAGSTER_PG_PORT']}/{url['DAGSTER_PG_DB']}")  # fmt: skip
    machines = [Pacer(dsn), Pacer(dsn)]
    taken: list[float] = []
    lock = threading.Lock()

    def take(pacer: Pacer) -> None:
        for _ in range(2):
            with pacer.slot("xai_budget_test_requests", 2.0), lock:
                taken.append(time.time())

    threads = [threading.Thread(target=take, args=(m,)) for m in machines for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for machine in machines:
            machine.close()
    taken.sort()
    assert len(taken) == 8
    # 2 per second: no 1-second window holds more than 2 of the 8, so they span at least 3 s
    assert all(b - a >= 1.0 for a, b in zip(taken, taken[2:], strict=False)), taken
    assert taken[-1] - taken[0] >= 3.0
