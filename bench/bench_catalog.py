"""A catalog drop at scale: the sensor tick over a 500-row catalog beside 500 plain campaign folders, and the run
queue's throughput for a catalog's runs against the emulator's request rate.

Part 1 (in process, a real sqlite instance): ``image_drop_sensor`` ticks over a 500-row ``catalog.csv`` (one tiny
image per row) and, side by side, over the same 500 campaigns dropped as folders, in the local folder drop zone and
in the S3 one (SeaweedFS): the first tick (partitions added in one request, 500 run requests), a tick over the
unchanged drop, and a tick after one row (one folder) changed; and the ``add_dynamic_partitions`` call the first tick
asks for. Part 2 (the production stack of ``bench_backfill.py``: PostgreSQL, SeaweedFS, the emulator at ``--rps``,
``dagster code-server`` and ``dagster-daemon`` on ``deploy/dagster.yaml``): a ``--sample``-row catalog (one
one-second 480p shot a row) is dropped into the S3 drop zone and the daemon's sensor is started; it measures when the
partitions appear (all in one tick) and the shots per minute the queue delivers, against the ``60 × rps`` the rate
limit allows. A sample rather than 500 rows: one 2-core host delivers a few campaigns a minute (see README).

    .venv/bin/python bench/bench_catalog.py [--rows 500] [--sample 40] [--rps 1] [--latency 2]
                                            [--skip-stack | --stack-only] [--submit-workers N]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # media_pipeline_tests is not installed

from dagster import (  # noqa: E402
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    SensorResult,
    build_sensor_context,
)

from media_pipeline.emulator.server import XaiEmulator  # noqa: E402
from media_pipeline.emulator.service import EmulatorConfig  # noqa: E402
from media_pipeline.partitions import Pipeline  # noqa: E402
from media_pipeline.resources.drops import DropZone, LocalDropZone  # noqa: E402
from media_pipeline.resources.s3.drops import S3DropZone  # noqa: E402
from media_pipeline.sensors import build_image_drop_sensor  # noqa: E402
from media_pipeline_tests.builders import sample_image  # noqa: E402
from media_pipeline_tests.dagster_stack import (  # noqa: E402
    generation_overlap,
    pipeline_env,
    start_stack,
    write_instance_home,
)
from media_pipeline_tests.postgres_fixtures import start_postgres  # noqa: E402
from media_pipeline_tests.s3_fixtures import start_seaweed  # noqa: E402
from media_pipeline_tests.servers import free_port  # noqa: E402

TEMPLATE = 'resolution: 480p\nduration: 1\naspect_ratio: "16:9"\nshots:\n  - image: "{image}"\n    id: hero\n    prompt: "slow push-in on the {color} {title}"\n'  # noqa: E501
FOLDER_MANIFEST = (
    'resolution: 480p\nduration: 1\naspect_ratio: "16:9"\nshots:\n  - image: hero.png\n    prompt: "slow push-in"\n'  # noqa: E501
)
Put = Callable[[str, bytes], None]


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    sample_image(seed, (160, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def _catalog(rows: int, edited: int | None = None) -> bytes:
    lines = ["sku,title,color,image"] + [
        f"SKU-{n:04d},{'Trail ' if n == edited else ''}Runner {n},red,sku{n:04d}.png" for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def drop_catalog(put: Put, drop: str, rows: int) -> None:
    """A catalog drop: the template, one image a row, then the catalog."""
    put(f"{drop}/campaign.yaml", TEMPLATE.encode())
    for n in range(rows):
        put(f"{drop}/sku{n:04d}.png", _png(2000 + n))
    put(f"{drop}/catalog.csv", _catalog(rows))


def drop_folders(put: Put, rows: int) -> None:
    """The same campaigns as plain folders: a manifest and one image each."""
    for n in range(rows):
        put(f"f-{n:04d}/campaign.yaml", FOLDER_MANIFEST.encode())
        put(f"f-{n:04d}/hero.png", _png(2000 + n))


def _tick(instance: DagsterInstance, zone: DropZone, cursor: str | None) -> tuple[float, SensorResult]:
    sensor = build_image_drop_sensor(Pipeline(), settle=0.0)
    with build_sensor_context(instance=instance, cursor=cursor, resources={"drops": zone}) as context:
        started = time.perf_counter()
        result = sensor(context)
        elapsed = time.perf_counter() - started
    assert isinstance(result, SensorResult)
    return elapsed, result


def measure_ticks(zone: DropZone, change: Callable[[], None]) -> dict[str, float]:
    """First tick, the partitions it asks for added, an unchanged tick, and a tick after ``change``; the zone's
    client is made first (boto3's first client in a process costs about half a second, paid by no tick)."""
    zone.list_folder("warm-up")
    with tempfile.TemporaryDirectory() as home:
        Path(home, "dagster.yaml").touch()
        with DagsterInstance.local_temp(home) as instance:
            return _ticks(instance, zone, change)


def _ticks(instance: DagsterInstance, zone: DropZone, change: Callable[[], None]) -> dict[str, float]:
    """The four measurements of ``measure_ticks`` on one fresh instance."""
    first_s, first = _tick(instance, zone, None)
    requests = first.dynamic_partitions_requests or []
    started = time.perf_counter()
    for request in requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    add_s = time.perf_counter() - started
    unchanged_s, unchanged = _tick(instance, zone, first.cursor)
    time.sleep(0.01)
    change()
    edited_s, edited = _tick(instance, zone, unchanged.cursor)
    registered = len(instance.get_dynamic_partitions("campaigns"))
    return {
        "first_s": first_s, "add_calls": len(requests), "registered": registered, "runs": len(first.run_requests),
        "add_s": add_s, "unchanged_s": unchanged_s, "edited_s": edited_s, "edited_runs": len(edited.run_requests),
    }  # fmt: skip


def part_one(rows: int, work: Path, seaweed) -> None:
    cases = {}
    for backend in ("local", "s3"):
        for shape in ("catalog", "folders"):
            if backend == "local":
                root = work / f"drops-{shape}"

                def put(key: str, body: bytes, root: Path = root) -> None:
                    (root / key).parent.mkdir(parents=True, exist_ok=True)
                    (root / key).write_bytes(body)

                zone: DropZone = LocalDropZone(root=str(root))
            else:
                bucket, client = seaweed.make_bucket(), seaweed.client()

                def put(key: str, body: bytes, bucket: str = bucket, client=client) -> None:
                    client.put_object(Bucket=bucket, Key=f"drops/{key}", Body=body)

                zone = S3DropZone.from_uri(f"s3://{bucket}/drops/")
            if shape == "catalog":
                drop_catalog(put, "shoes", rows)
                change = lambda put=put: put("shoes/catalog.csv", _catalog(rows, edited=7))  # noqa: E731
            else:
                drop_folders(put, rows)
                change = lambda put=put: put("f-0007/hero.png", _png(1))  # noqa: E731
            cases[(backend, shape)] = measure_ticks(zone, change)
    print(f"\nPart 1: image_drop_sensor over {rows} campaigns, one tick each (sqlite instance)")
    head = ("drop zone", "first tick s", "add calls", "registered", "runs", "add s", "unchanged s", "edited s (runs)")
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for (backend, shape), m in cases.items():
        print(f"| {backend}, {rows} {'catalog rows' if shape == 'catalog' else 'folders'} | {m['first_s']:.2f} | "
              f"{m['add_calls']} | {m['registered']} | {m['runs']} | {m['add_s']:.2f} | {m['unchanged_s']:.2f} | "
              f"{m['edited_s']:.2f} ({m['edited_runs']}) |")  # fmt: skip
    for backend in ("local", "s3"):
        cat, fold = cases[(backend, "catalog")], cases[(backend, "folders")]
        print(f"{backend}: catalog / folders first tick {cat['first_s'] / fold['first_s']:.2f}x, unchanged tick "
              f"{cat['unchanged_s'] / fold['unchanged_s']:.2f}x; first tick vs the 30 s sensor interval "
              f"{cat['first_s'] / 30:.3f}x")  # fmt: skip


def _wait(instance: DagsterInstance, sample: int, timeout: float) -> tuple[float, float, set[int]]:
    """Seconds until every partition is registered, and until every SKU has a successful run or nothing has been in
    flight for 30 s (a crashed run is retried by the instance); the partition counts seen while waiting."""
    started, registered_at, seen, idle_since = time.monotonic(), None, set(), None
    in_flight = [s for s in DagsterRunStatus if s not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE,
                                                            DagsterRunStatus.CANCELED)]  # fmt: skip
    while time.monotonic() - started < timeout:
        count = len(instance.get_dynamic_partitions("campaigns"))
        seen.add(count)
        if registered_at is None and count >= sample:
            registered_at = time.monotonic() - started
        delivered = {
            r.tags.get("dagster/partition") for r in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        }
        busy = instance.get_runs_count(RunsFilter(statuses=in_flight))
        idle_since = None if busy else idle_since or time.monotonic()
        if registered_at is not None and (
            len(delivered) >= sample or (idle_since and time.monotonic() - idle_since > 30)
        ):
            break
        time.sleep(1.0)
    return registered_at or float("nan"), time.monotonic() - started, seen


def _submission_seconds(instance: DagsterInstance) -> float:
    """From the first run the sensor created to the last: the daemon submits a tick's run requests one by one."""
    created = [record.create_timestamp.timestamp() for record in instance.get_run_records()]
    return max(created) - min(created) if created else float("nan")


def _outcomes(instance: DagsterInstance) -> str:
    """Runs by status, and the first error of each run that did not succeed."""
    runs = instance.get_runs()
    counts = {}
    for run in runs:
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    lines = [", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))]
    for run in runs:
        if run.status != DagsterRunStatus.SUCCESS:
            failures = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
            error = failures[0].dagster_event.event_specific_data.error if failures else None
            lines.append(
                f"  {run.tags.get('dagster/partition')}: {run.status.value} {error.message[:160] if error else ''}"
            )
    return "\n".join(lines)


def part_two(args: argparse.Namespace, work: Path, seaweed) -> None:
    postgres = start_postgres()
    emulator = XaiEmulator(
        EmulatorConfig(latency_seconds=args.latency, rps=args.rps), render_cache_dir=work / "renders"
    )
    emulator.start()
    stack = None
    try:
        database = postgres.create_database()
        os.environ.update(postgres.env(database))
        bucket, client = seaweed.make_bucket(), seaweed.client()
        drop_catalog(
            lambda key, body: client.put_object(Bucket=bucket, Key=f"drops/{key}", Body=body), "shoes", args.sample
        )
        env = pipeline_env(work, seaweed.env(), bucket, emulator.api_host, postgres.env(database), shots=1)
        env["MEDIA_PIPELINE_XAI_RPS"] = str(args.rps)
        port = free_port()
        overrides = {"sensors": {"num_submit_workers": args.submit_workers}} if args.submit_workers else {}
        home = write_instance_home(work / "dagster_home", port, overrides)
        stack = start_stack(home, port, env)
        with DagsterInstance.from_config(str(home)) as instance:
            stack.dagster("sensor", "start", "image_drop_sensor")
            registered_s, done_s, seen = _wait(instance, args.sample, args.timeout)
            successes = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
            succeeded = len({run.tags.get("dagster/partition") for run in successes})
            overlap = generation_overlap(instance)
            outcomes, submitted_s = _outcomes(instance), _submission_seconds(instance)
        minutes = (done_s - registered_s) / 60
        per_minute, bound = succeeded / minutes, 60 * args.rps
        workers = f", sensors.num_submit_workers {args.submit_workers}" if args.submit_workers else ""
        print(f"\nPart 2: a {args.sample}-row catalog, S3 drop zone, the daemon sensor and queue{workers}")
        print(f"partitions registered {registered_s:.1f} s after the sensor was started; counts seen while waiting: "
              f"{sorted(seen)} (one tick adds them all)")  # fmt: skip
        print(f"{succeeded}/{args.sample} SKUs delivered in {done_s - registered_s:.0f} s after registration")
        print(f"runs: {outcomes}")
        print(f"the sensor daemon created the {args.sample} runs over {submitted_s:.0f} s")
        print("| | shots / minute | vs the rate limit |\n|---|---|---|")
        print(f"| ours (queue 8, pool 2, one 2-core host) | {per_minute:.1f} | {per_minute / bound:.2f}x |")
        print(f"| rate limit ({args.rps:g} submit/s, 1 shot a SKU) | {bound:.0f} | 1.00x |")
        refused = emulator.count("GenerateVideo", "RESOURCE_EXHAUSTED")
        times = sorted(p.at for p in emulator.paid_requests)
        gap = min((b - a for a, b in zip(times, times[1:], strict=False)), default=float("nan"))
        print(f"emulator: {len(times)} paid submits, {refused} refused, closest two {gap:.2f} s apart")
        print(f"generated_clips steps at once (the xai_video pool, limit 2): at most {overlap}")
    finally:
        if stack is not None:
            stack.stop()
        emulator.stop()
        postgres.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--sample", type=int, default=40, help="rows of the catalog the stack delivers")
    parser.add_argument("--rps", type=float, default=1.0, help="the emulator's submits per second (and ours)")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds a request stays PENDING")
    parser.add_argument("--timeout", type=float, default=3 * 3600)
    parser.add_argument("--skip-stack", action="store_true", help="part 1 only")
    parser.add_argument("--stack-only", action="store_true", help="part 2 only")
    parser.add_argument(
        "--submit-workers", type=int, default=0, help="sensors.num_submit_workers for the instance (0: as deployed)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    seaweed = start_seaweed(work / "seaweed")
    os.environ.update(seaweed.env())  # the S3 drop zone of part 1 is opened in this process
    try:
        if not args.stack_only:
            part_one(args.rows, work, seaweed)
        if not args.skip_stack:
            part_two(args, work, seaweed)
    finally:
        seaweed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
