"""How long an S3 drop-sensor tick takes: 10,000 objects in 100 campaigns, then 100 new ones.

Starts its own SeaweedFS (auth on, loopback), fills a bucket with threads, and times the drop zone calls a
sensor tick makes: the first tick (no cursor: every campaign is new) and later ticks (cursor from the last
one: only changed campaigns come back). Prints the figures against the 2 s tick target.

    .venv/bin/python bench/bench_s3_sensor.py [--objects 10000] [--campaigns 100] [--new 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # media_pipeline_tests is not installed

from media_pipeline.resources.s3_drops import S3DropZone  # noqa: E402
from media_pipeline_tests.s3_fixtures import SeaweedS3, start_seaweed  # noqa: E402

TARGET_SECONDS = 2.0


def fill(server: SeaweedS3, bucket: str, keys: list[str], threads: int = 16) -> float:
    """Put a small object at each key (in threads); return the seconds it took."""
    client = server.client(max_pool_connections=threads)
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b"img"), keys))
    return time.perf_counter() - started


def timed_tick(zone: S3DropZone, state: dict[str, str] | None) -> tuple[float, int, Any]:
    """One sensor tick's listing: seconds, ListObjectsV2 requests, and ``(changes, state)``."""
    before = zone.list_requests
    started = time.perf_counter()
    result = zone.list_changed(state)
    return time.perf_counter() - started, zone.list_requests - before, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="later ticks to time")
    args = parser.parse_args()

    server = start_seaweed()
    try:
        print(f"SeaweedFS S3 up in {server.startup_seconds:.2f} s at {server.endpoint_url}")
        os.environ.update(server.env())
        bucket = server.make_bucket("bench-drops")
        keys = [f"drops/c{i % args.campaigns:03}/img{i:06}.png" for i in range(args.objects)]
        print(f"put {args.objects} objects in {args.campaigns} campaigns: {fill(server, bucket, keys):.1f} s")

        zones = {
            "elementtree": S3DropZone.from_environment(bucket=bucket, prefix="drops"),
            "botocore": S3DropZone.from_environment(bucket=bucket, prefix="drops", fast_listing=False),
        }
        for parser, zone in zones.items():
            first, first_calls, (changes, state) = timed_tick(zone, None)
            cursor = json.dumps(state)
            idle = [timed_tick(zone, json.loads(cursor)) for _ in range(args.repeat)]
            idle_s = statistics.median(t for t, _, _ in idle)
            print(
                f"[{parser} parser] first tick {first:.3f} s ({first_calls} LIST requests, {len(changes)} campaigns,"
                f" cursor {len(cursor)} B); idle tick median {idle_s:.3f} s ({len(idle[0][2][0])} changed)"
            )
        zone = zones["elementtree"]
        first, first_calls, (changes, state) = timed_tick(zone, None)
        cursor = json.dumps(state)

        new = [f"drops/new{i % 10:02}/img{i:06}.png" for i in range(args.new // 2)]
        new += [f"drops/c{i % args.campaigns:03}/late{i:06}.png" for i in range(args.new - len(new))]
        fill(server, bucket, new)
        later, later_calls, (changes, state) = timed_tick(zone, json.loads(cursor))
        print(
            f"tick after {len(new)} new objects: {later:.3f} s, {later_calls} LIST requests, "
            f"{len(changes)} campaigns changed ({sum(len(f) for f in changes.values())} files returned)"
        )
        worst = max(first, later)
        print(
            f"target {TARGET_SECONDS:.1f} s: worst tick {worst:.3f} s = {worst / TARGET_SECONDS:.0%} of target; "
            f"later/first = {later / first:.2f}"
        )
        per_call = later / max(later_calls, 1)
        print(
            f"cost per LIST page (1,000 keys): {per_call * 1000:.0f} ms -> "
            f"~{TARGET_SECONDS / per_call * 1000:,.0f} objects fit a {TARGET_SECONDS:.0f} s tick"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
