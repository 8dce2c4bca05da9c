"""The production shape on one machine, for real: PostgreSQL, SeaweedFS, the xAI emulator, and Dagster's own
daemon and code server as separate processes on an instance made from deploy/dagster.yaml.

Five campaigns are dropped into the S3 drop zone and the sensor is started; the ``xai_video`` pool is not set by
hand, the first generation steps make it from the default limit, several at once. The test then reads from the
instance's event log that the sensor's runs went through the queue and never ran more than the run limit at once,
and that never more ``generated_clips`` steps overlapped than the ``xai_video`` pool allows; it SIGKILLs one run's
worker (and its step's process, under a multiprocess executor) once both its requests are journaled, and checks
that the code server failed the run, run monitoring freed its pool slot, run retries relaunched it (Dagster's retry
daemon, or ``missed_retry_sensor``, running by default, when the daemon's poll fell in Dagster 1.13's race), and the
emulator billed every clip exactly once; then that all five deliverables are in the bucket. The emulator runs at 1
request per second: the submits it admitted are at least 1 s apart; with the client's pacing (a budget shared on
the instance's PostgreSQL) it refused few.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import signal
import time

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.definitions.run_request import InstigatorType

from media_pipeline.emulator.config import EmulatorConfig
from media_pipeline.media.probe import probe

from .dagster_stack import drop_campaigns, event_times, max_overlap, pipeline_env, start_stack, write_instance_home
from .servers import free_port

pytest_plugins = ["media_pipeline_tests.xai_fixtures"]

CAMPAIGNS = [f"wave-{n}" for n in range(1, 6)]
SHOTS = 2
RUN_LIMIT, POOL_LIMIT = 3, 2
RETRY_TAGS = ("dagster/parent_run_id", "dagster/retry_number", "dagster/will_retry", "dagster/auto_retry_run_id")
# the daemon's lines every poll, which would push what matters out of the diagnosis's end of its log
DAEMON_CHATTER = ("Checking run ", "runs for monitoring", "won't launch more", "Priority sorting", "Launched 0 runs")
RPS_FIELD = next((f.name for f in dataclasses.fields(EmulatorConfig) if f.name in ("rps", "requests_per_second")), "")
# the test's timing, not the deployment's: poll and free slots every few seconds instead of every 30
OVERRIDES = {
    "concurrency": {"runs": {"max_concurrent_runs": RUN_LIMIT}, "pools": {"default_limit": POOL_LIMIT}},
    "run_coordinator": {"config": {"dequeue_interval_seconds": 1}},
    "run_monitoring": {"poll_interval_seconds": 2, "free_slots_after_run_end_seconds": 2},
}


def _client_paces() -> bool:
    try:
        return importlib.util.find_spec("media_pipeline.resources.xai.pacing") is not None
    except ModuleNotFoundError:
        return False


def _journal(client, bucket: str, campaign: str) -> list[dict]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"store/jobs/{campaign}/").get("Contents", [])
    return [json.loads(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listing]


def _pids(instance: DagsterInstance, run_id: str, event_type: DagsterEventType, prefix: str) -> list[int]:
    """The pids in the run's ``event_type`` events whose message starts with ``prefix``."""
    return [
        int(record.dagster_event.event_specific_data.metadata["pid"].value)
        for record in instance.all_logs(run_id, of_type=event_type)
        if record.message.startswith(prefix)
    ]


def _kill_first_generation_once_journaled(instance, client, bucket: str, deadline: float, stack) -> str:
    """SIGKILL the first generating run's worker (and the step's own process, with a multiprocess executor) once
    both its requests are journaled as submitted: the machine is lost between paying and downloading."""
    while time.monotonic() < deadline:
        if instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE])):
            raise AssertionError(f"a run failed before any was killed:\n{_diagnosis(instance, stack)}")
        for run_id in event_times(instance, DagsterEventType.STEP_START, "generated_clips"):
            campaign = instance.get_run_by_id(run_id).tags["dagster/partition"]
            entries = _journal(client, bucket, campaign)
            if len(entries) == SHOTS and all(e["status"] == "submitted" for e in entries):
                step = _pids(instance, run_id, DagsterEventType.STEP_WORKER_STARTED, 'Executing step "generated_clips"')
                (worker,) = _pids(instance, run_id, DagsterEventType.ENGINE_EVENT, "Started process for run")
                for pid in [*step, worker]:
                    os.kill(pid, signal.SIGKILL)
                return run_id
        time.sleep(0.2)
    raise TimeoutError(f"no generation step got both its requests journaled:\n{_diagnosis(instance, stack)}")


def _slot_holders(instance: DagsterInstance) -> set[str]:
    return {slot.run_id for slot in instance.event_log_storage.get_concurrency_info("xai_video").claimed_slots}


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def _wait_until_every_campaign_succeeded(instance: DagsterInstance, deadline: float, stack) -> list:
    while time.monotonic() < deadline:
        runs = instance.get_runs()
        done = {r.tags.get("dagster/partition") for r in runs if r.status == DagsterRunStatus.SUCCESS}
        if done >= set(CAMPAIGNS) and not instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.QUEUED])):
            return runs
        time.sleep(1)
    raise TimeoutError(f"not every campaign succeeded:\n{_diagnosis(instance, stack)}")


def _diagnosis(instance: DagsterInstance, stack) -> str:
    """Each run's campaign, status, last errors and retry tags; for a failed run also its engine events (why the
    code server or the daemon failed it, whether and why it was not retried); then the daemon's log without its
    periodic chatter and the code server's log."""
    lines = []
    for run in instance.get_runs():
        failures = instance.all_logs(run.run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE})
        retry_tags = {k: v for k, v in run.tags.items() if k in RETRY_TAGS}
        lines.append(f"{run.tags.get('dagster/partition')} {run.status.value} {[e.message for e in failures][-2:]}")
        lines.append(f"  {run.run_id} {retry_tags}")
        if run.status == DagsterRunStatus.FAILURE:
            engine = instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            lines += [f"  engine: {e.message[:300]} {_engine_error(e)}" for e in engine[-6:]]
    return "\n".join(
        [*lines, "daemon:", stack.log("daemon", skip=DAEMON_CHATTER), "code server:", stack.log("code_server")]
    )


def _engine_error(entry) -> str:
    error = getattr(entry.dagster_event.event_specific_data, "error", None)
    return error.message.strip()[-300:] if error else ""


def _sensor_ticked(instance: DagsterInstance, name: str) -> bool:
    """Whether the daemon evaluated sensor ``name`` (running by default: it was never started by hand)."""
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return any(instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1) for s in states if s.name == name)


def _intervals(instance: DagsterInstance, starts: dict, ends: dict) -> list[tuple[float, float]]:
    """(start, end) per run; a run that never ended its span ends with the run's failure."""
    failed = event_times(instance, DagsterEventType.RUN_FAILURE)
    return [(min(times), max(ends.get(run_id) or failed[run_id])) for run_id, times in starts.items()]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_five_drops_through_the_queue_and_the_pool_survive_a_killed_worker_and_pay_once(
    postgres_env, seaweed_s3, xai_emulator_factory, tmp_path
):
    emulator = xai_emulator_factory(latency_seconds=3.0, **({RPS_FIELD: 1} if RPS_FIELD else {}))
    bucket, client = seaweed_s3.make_bucket(), seaweed_s3.client()
    env = pipeline_env(tmp_path, seaweed_s3.env(), bucket, emulator.api_host, postgres_env, shots=SHOTS)
    env["MEDIA_PIPELINE_RETRY_GRACE_SECONDS"] = "5"  # the test's timing: a retry the daemon missed comes sooner
    port = free_port()
    home = write_instance_home(tmp_path / "dagster_home", port, OVERRIDES)
    drop_campaigns(client, bucket, CAMPAIGNS, SHOTS)
    stack = start_stack(home, port, env)
    try:
        time.sleep(1.5)  # the drops settle (MEDIA_PIPELINE_SETTLE_SECONDS=1)
        # the pool is not set up by hand: the first generation steps make it from default_limit, several at once
        stack.dagster("sensor", "start", "image_drop_sensor")
        with DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 420
            killed = _kill_first_generation_once_journaled(instance, client, bucket, deadline, stack)
            # the code server notices its run worker is gone and fails the run; the slot its generation step held
            # cannot be given back by a dead process: run monitoring frees it (free_slots_after_run_end_seconds)
            _wait(lambda: instance.get_run_by_id(killed).is_finished, 60, "the killed run was never failed")
            assert killed in _slot_holders(instance)
            _wait(lambda: killed not in _slot_holders(instance), 60, "run monitoring never freed the killed slot")
            runs = _wait_until_every_campaign_succeeded(instance, deadline, stack)

            # the sensor's five runs and the retry all went through the queue
            first = [r for r in runs if "dagster/parent_run_id" not in r.tags]
            assert {r.tags.get("dagster/sensor_name") for r in first} == {"image_drop_sensor"}
            assert sorted(r.tags["dagster/partition"] for r in first) == CAMPAIGNS
            enqueued = event_times(instance, DagsterEventType.RUN_ENQUEUED)
            assert {r.run_id for r in runs} <= set(enqueued) and len(runs) == len(CAMPAIGNS) + 1
            # never more runs at once than the queue allows, never more generation steps than the pool
            run_starts = event_times(instance, DagsterEventType.RUN_START)
            run_ends = event_times(instance, DagsterEventType.RUN_SUCCESS)
            assert max_overlap(_intervals(instance, run_starts, run_ends)) == RUN_LIMIT
            step_starts = event_times(instance, DagsterEventType.STEP_START, "generated_clips")
            step_ends = event_times(instance, DagsterEventType.STEP_SUCCESS, "generated_clips")
            assert len(step_starts) == len(CAMPAIGNS) + 1
            assert max_overlap(_intervals(instance, step_starts, step_ends)) == POOL_LIMIT

            # the killed worker: failed by the code server, its slot freed by run monitoring, retried once
            assert instance.get_run_by_id(killed).status == DagsterRunStatus.FAILURE
            messages = [e.message for e in instance.all_logs(killed, of_type=DagsterEventType.ENGINE_EVENT)]
            assert any(f"Run execution process for {killed}" in m for m in messages), messages
            (retry,) = [r for r in runs if r.tags.get("dagster/parent_run_id") == killed]
            assert retry.status == DagsterRunStatus.SUCCESS and retry.tags["dagster/retry_number"] == "1"
            # by the retry daemon, or by missed_retry_sensor when the daemon's poll fell in Dagster 1.13's race
            by_daemon = instance.get_run_by_id(killed).tags.get("dagster/auto_retry_run_id") == retry.run_id
            by_sensor = retry.tags.get("dagster/sensor_name") == "missed_retry_sensor"
            assert by_daemon != by_sensor, (retry.tags, instance.get_run_by_id(killed).tags)
            assert _sensor_ticked(instance, "missed_retry_sensor"), "missed_retry_sensor never ran"
            pool = instance.event_log_storage.get_concurrency_info("xai_video")
            assert (pool.slot_count, pool.using_default_limit, pool.claimed_slots) == (POOL_LIMIT, True, [])

        # every clip paid for once, the killed run's two included
        paid = emulator.paid_requests
        assert len(paid) == len(CAMPAIGNS) * SHOTS == emulator.count("GenerateVideo", "OK")
        assert len({p.request_id for p in paid}) == len(paid)
        if RPS_FIELD:  # the emulator admitted at most 1 submit per second across all runs and processes
            times = sorted(p.at for p in paid)
            assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 0.95
        if RPS_FIELD and _client_paces():
            # with the budget shared on the instance's PostgreSQL, refusals are rare: only a process delayed between
            # taking its slot and reaching the API by more than the pacer's margin (a loaded CI machine) is refused.
            # Unpaced, the four submits of two generating campaigns meet about one refusal per submit.
            assert emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED") < len(paid) // 2

        for campaign in CAMPAIGNS:
            target = tmp_path / f"{campaign}.mp4"
            client.download_file(bucket, f"store/deliverables/{campaign}/{campaign}.mp4", str(target))
            assert probe(target).video_duration == pytest.approx(2.0, abs=0.05)
    finally:
        stack.stop()
