"""How long an S3 drop-sensor tick takes: 10,000 objects in 100 campaigns, then 100 new ones.

Starts its own SeaweedFS (auth on, loopback), fills a bucket with threads, then evaluates the real
``image_drop_sensor`` against an ``S3DropZone`` on a real (temporary) Dagster instance: the first tick (every
campaign new: partitions added, runs requested), an idle tick, and the tick after 100 new objects. Each is timed
side by side with the same sensor over botocore's own listing parser (the naive way), against the 2 s limit.

    .venv/bin/python bench/bench_s3_sensor.py [--objects 10000] [--campaigns 100] [--new 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dagster import build_sensor_context, instance_for_test

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # media_pipeline_tests is not installed

from media_pipeline.resources.s3.drops import S3DropZone  # noqa: E402
from media_pipeline.sensors import image_drop_sensor  # noqa: E402
from media_pipeline_tests.s3_fixtures import SeaweedS3, start_seaweed  # noqa: E402

LIMIT_SECONDS = 2.0


def fill(server: SeaweedS3, bucket: str, keys: list[str], threads: int = 16) -> float:
    """Put a small object at each key (in threads); return the seconds it took."""
    client = server.client(max_pool_connections=threads)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"img"), keys))
    return time.perf_counter() - started


class SensorDriver:
    """Ticks ``image_drop_sensor`` over one drop zone on its own instance, carrying the cursor like the daemon."""

    def __init__(self, zone: S3DropZone, home: Path):
        home.mkdir(parents=True)
        self._instance_cm = instance_for_test(temp_dir=str(home))
        self.instance = self._instance_cm.__enter__()
        self.zone = zone
        self.cursor: str | None = None

    def tick(self) -> tuple[float, int]:
        """Seconds and run requests of one tick."""
        started = time.perf_counter()
        with build_sensor_context(instance=self.instance, cursor=self.cursor, resources={"drops": self.zone}) as ctx:
            result = image_drop_sensor(ctx)
        elapsed = time.perf_counter() - started
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        return elapsed, len(result.run_requests or [])

    def close(self) -> None:
        self._instance_cm.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--new", type=int, default=100)
    args = parser.parse_args()
    os.environ["MEDIA_PIPELINE_SETTLE_SECONDS"] = "0"  # every drop counts as settled: the tick does all its work

    server = start_seaweed()
    try:
        os.environ.update(server.env())
        bucket = server.make_bucket("bench-drops")
        keys = [f"drops/c{i % args.campaigns:03}/img{i:06}.png" for i in range(args.objects)]
        print(
            f"SeaweedFS up in {server.startup_seconds:.2f} s; put {args.objects} objects in {args.campaigns} "
            f"campaigns in {fill(server, bucket, keys):.1f} s"
        )
        with tempfile.TemporaryDirectory(prefix="bench-sensor-") as tmp:
            drivers = {
                "ours (lean listing)": SensorDriver(
                    S3DropZone.from_environment(bucket=bucket, prefix="drops"), Path(tmp) / "ours"
                ),
                "naive (botocore parser)": SensorDriver(
                    S3DropZone.from_environment(bucket=bucket, prefix="drops", fast_listing=False), Path(tmp) / "naive"
                ),
            }
            rows: dict[str, list[tuple[float, int]]] = {name: [] for name in drivers}
            for name, driver in drivers.items():
                rows[name] += [driver.tick(), driver.tick()]  # first tick, idle tick
            new = [f"drops/new{i % 10:02}/img{i:06}.png" for i in range(args.new // 2)]
            new += [f"drops/c{i % args.campaigns:03}/late{i:06}.png" for i in range(args.new - len(new))]
            fill(server, bucket, new)
            for name, driver in drivers.items():
                rows[name].append(driver.tick())
                driver.close()
        print(f"\nimage_drop_sensor tick, {args.objects:,} objects (+{args.new} new), limit {LIMIT_SECONDS:.1f} s")
        print(f"(each tick lists the prefix: ceil(objects / 1000) = {-(-(args.objects + args.new) // 1000)} requests)")
        print(f"{'':26}{'first tick':>18}{'idle tick':>18}{'after new objects':>20}")
        for name, ticks in rows.items():
            print(f"{name:26}" + "".join(f"{f'{t:6.3f} s {runs:>3} runs':>18}" for t, runs in ticks))
        ours, naive = rows["ours (lean listing)"], rows["naive (botocore parser)"]
        worst = max(t for t, _ in ours)
        print(
            f"\nworst tick: ours {worst:.3f} s = {worst / LIMIT_SECONDS:.2f}x the limit; "
            f"naive/ours after new objects = {naive[2][0] / ours[2][0]:.2f}x; "
            f"ours later/first = {ours[2][0] / ours[0][0]:.2f}"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
