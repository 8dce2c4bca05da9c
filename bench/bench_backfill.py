"""A backfill of N campaigns through the production queue: campaigns per hour against the rate-limit bound, the
daemon's and the code server's memory, and the instance database's size.

Starts PostgreSQL, SeaweedFS and the xAI emulator on loopback, writes an instance from deploy/dagster.yaml as it
is (8 runs at once, a backfill at most 4 of them, the xai_video pool at 2), starts the code server and the daemon,
drops N campaigns of 2 one-second 480p shots each into the S3 drop zone, and launches one backfill over all of
them with ``dagster job backfill`` (every run queued at once, tagged ``dagster/backfill``). The bound is what the
API's request rate allows: 2 submits per campaign at ``--rps`` submits per second is ``3600 × rps / 2``
campaigns per hour, whatever the hardware. Memory is sampled every second (RSS of the daemon, of the code
server, and of the run workers it launched, summed); the database size is ``pg_database_size`` at the end; the
most ``generated_clips`` steps that ran at once is read from the event log, against the pool's limit.

    .venv/bin/python bench/bench_backfill.py [--campaigns 200] [--rps 1] [--latency 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # media_pipeline_tests is not installed

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter  # noqa: E402

from media_pipeline.emulator.config import EmulatorConfig  # noqa: E402
from media_pipeline.emulator.server import XaiEmulator  # noqa: E402
from media_pipeline_tests.dagster_stack import (  # noqa: E402
    drop_campaigns,
    generation_overlap,
    pipeline_env,
    rss_bytes,
    start_stack,
    write_instance_home,
)
from media_pipeline_tests.postgres_fixtures import start_postgres  # noqa: E402
from media_pipeline_tests.s3_fixtures import start_seaweed  # noqa: E402
from media_pipeline_tests.servers import free_port  # noqa: E402

SHOTS = 2
MIB = 1024 * 1024


class MemorySampler(threading.Thread):
    """Peak and median RSS of each named process tree, sampled every second until ``stop``."""

    def __init__(self, pids: dict[str, tuple[int, bool]]):
        super().__init__(daemon=True)
        self.pids, self.samples = pids, {name: [] for name in pids}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(1.0):
            for name, (pid, tree) in self.pids.items():
                self.samples[name].append(rss_bytes(pid, descendants=tree))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _emulator(rps: float, latency: float, cache: Path) -> XaiEmulator:
    fields = {f.name for f in dataclasses.fields(EmulatorConfig)}
    rate = {name: rps for name in ("rps", "requests_per_second") if name in fields}
    return XaiEmulator(EmulatorConfig(latency_seconds=latency, **rate), render_cache_dir=cache).start()


def _wait_for(instance: DagsterInstance, count: int, timeout: float) -> float:
    """Seconds until ``count`` runs have finished (or ``timeout``)."""
    started = time.monotonic()
    finished = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
    while time.monotonic() - started < timeout:
        if instance.get_runs_count(RunsFilter(statuses=finished)) >= count:
            break
        time.sleep(2)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--rps", type=float, default=1.0, help="the emulator's submits per second (and ours)")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds a request stays PENDING")
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
    campaigns = [f"bf-{n:04d}" for n in range(args.campaigns)]
    postgres, seaweed = start_postgres(), start_seaweed(work / "seaweed")
    emulator = _emulator(args.rps, args.latency, work / "renders")
    stack = None
    try:
        database = postgres.create_database()
        os.environ.update(postgres.env(database))  # this process opens the instance too
        bucket = seaweed.make_bucket()
        drop_campaigns(seaweed.client(), bucket, campaigns, SHOTS)
        env = pipeline_env(work, seaweed.env(), bucket, emulator.api_host, postgres.env(database), shots=SHOTS)
        env["MEDIA_PIPELINE_XAI_RPS"] = str(args.rps)
        port = free_port()
        home = write_instance_home(work / "dagster_home", port)
        stack = start_stack(home, port, env)
        with DagsterInstance.from_config(str(home)) as instance:
            empty = postgres.database_bytes(database)  # the instance's schema, before any campaign
            instance.add_dynamic_partitions("campaigns", campaigns)
            # the pool is made by the first generation steps, from default_limit
            pool_limit = instance.get_concurrency_config().pool_config.default_pool_limit
            sampler = MemorySampler(
                {
                    "daemon": (stack.processes["daemon"].pid, True),
                    "code server": (stack.processes["code_server"].pid, False),
                    "code server + run workers": (stack.processes["code_server"].pid, True),
                }
            )
            sampler.start()
            started = time.monotonic()
            stack.dagster("job", "backfill", "-j", "__ASSET_JOB", "--partitions", ",".join(campaigns), "--noprompt")
            elapsed = (time.monotonic() - started) + _wait_for(instance, len(campaigns), args.timeout)
            sampler.stop()
            succeeded = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
            generating = (generation_overlap(instance), pool_limit)
        size = postgres.database_bytes(database)
        _report(args, succeeded, elapsed, sampler, (empty, size), emulator, generating)
        return 0 if succeeded == len(campaigns) else 1
    finally:
        if stack is not None:
            stack.stop()
        emulator.stop()
        seaweed.stop()
        postgres.stop()


def _report(
    args, succeeded: int, elapsed: float, sampler: MemorySampler, sizes: tuple[int, int], emulator, generating
) -> None:
    per_hour = succeeded / elapsed * 3600
    bound = 3600 * args.rps / SHOTS
    print(f"campaigns: {succeeded}/{args.campaigns} delivered in {elapsed:.0f} s ({SHOTS} one-second 480p shots each)")
    print(f"{'':32}{'campaigns/h':>12}{'vs bound':>10}")
    print(f"{'ours (queue 8, backfill 4, pool 2)':32}{per_hour:>12.0f}{per_hour / bound:>9.2f}x")
    print(f"{f'rate-limit bound ({args.rps:g} submit/s)':32}{bound:>12.0f}{1:>9.2f}x")
    print(f"{'memory (MiB)':32}{'median':>12}{'peak':>10}")
    for name, samples in sampler.samples.items():
        if samples:
            print(f"{name:32}{statistics.median(samples) / MIB:>12.0f}{max(samples) / MIB:>10.0f}")
    empty, size = sizes
    growth = (size - empty) / max(succeeded, 1) / 1024
    print(f"instance database: {size / MIB:.1f} MiB ({empty / MIB:.1f} MiB empty + {growth:.0f} KiB per campaign)")
    paid = emulator.paid_requests
    refused = emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED")
    print(f"emulator: {len(paid)} paid submits, {refused} refused (RESOURCE_EXHAUSTED)")
    print("generation steps at once: {} at most (the xai_video pool: {})".format(*generating))


if __name__ == "__main__":
    sys.exit(main())
