"""Benchmark: generating a campaign's clips through ``XaiVideoGenerator`` against the xAI emulator.

Prints, side by side: our wall time (``generate`` fanned out over ``max_concurrent`` threads, journal +
download + probe included), the naive loop (``client.video.generate`` per shot, one after another; timed on
``--naive-shots`` and extrapolated), and the limit ``ceil(shots / cap) x latency``; then the peak RSS of the
generating process for two campaign sizes (each size in its own subprocess so the high-water marks are its
own). The emulator runs in its own process too. Run: ``python bench/bench_generation.py``.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import io
import json
import logging
import math
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MODEL = "grok-imagine-video-1.5-preview"
PROMPT = "slow push in on the product"
KEY = "bench-key"
COLOURS = [(200, 60, 40), (40, 160, 90), (50, 80, 200), (220, 190, 40)]


def image_urls() -> list[str]:
    """A few small distinct images as data: URLs (the emulator's render cache makes repeats free)."""
    from PIL import Image

    urls = []
    for colour in COLOURS:
        buf = io.BytesIO()
        Image.new("RGB", (160, 96), colour).save(buf, "PNG")
        urls.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    return urls


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the generating side (run in a subprocess per size) -------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    """Generate ``args.shots`` clips into a fresh local store; print one JSON line of figures."""
    from media_pipeline.resources.generator import ClipRequest
    from media_pipeline.resources.storage import LocalMediaStore
    from media_pipeline.resources.xai_generator import XaiVideoGenerator

    urls = image_urls()
    generator = XaiVideoGenerator(
        api_key=KEY,
        api_host=args.grpc,
        use_insecure_channel=True,
        max_concurrent=args.cap,
        poll_interval_seconds=args.poll,
        backoff_base_seconds=0.1,
        backoff_cap_seconds=1.0,
    )
    log = logging.getLogger("bench")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as root:
        store = LocalMediaStore(root=root)
        requests = [
            ClipRequest(
                campaign=args.campaign,
                shot=f"s{i:03d}",
                cache_key=f"{args.campaign}-s{i:03d}",
                prompt=PROMPT,
                model=MODEL,
                image_key=f"sources/{i % len(urls)}.png",
                image_url=urls[i % len(urls)],
                duration=1,
                resolution="480p",
                aspect_ratio="16:9",
            )
            for i in range(args.shots)
        ]
        started = time.monotonic()
        with ThreadPoolExecutor(generator.concurrency) as pool:
            outcomes = list(pool.map(lambda r: generator.generate(r, store, log), requests))
        wall = time.monotonic() - started
        generator.close()
    print(
        json.dumps(
            {
                "shots": args.shots,
                "wall_s": wall,
                "peak_rss_mb": peak_rss_mb(),
                "api_calls": sum(o.api_calls for o in outcomes),
                "cost_usd": sum(o.cost_usd for o in outcomes),
                "generated": sum(o.status == "generated" for o in outcomes),
            }
        ),
        flush=True,
    )


def batch_worker(args: argparse.Namespace) -> None:
    """Batch mode: ``args.shots`` clips as one xAI batch (``XaiBatches``), results taken as they come; one JSON
    line of figures."""
    from media_pipeline.resources.generator import ClipRequest
    from media_pipeline.resources.storage import LocalMediaStore
    from media_pipeline.resources.xai.batch import XaiBatches
    from media_pipeline.resources.xai_generator import XaiVideoGenerator

    urls = image_urls()
    generator = XaiVideoGenerator(api_key=KEY, api_host=args.grpc, use_insecure_channel=True)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as root:
        batches = XaiBatches(generator, LocalMediaStore(root=root), args.campaign, logging.getLogger("bench"), {})
        requests = [
            ClipRequest(campaign=args.campaign, shot=f"s{i:03d}", cache_key=f"{args.campaign}-b{i:03d}", prompt=PROMPT,
                        model=MODEL, image_key=f"sources/{i % len(urls)}.png", image_url=urls[i % len(urls)],
                        duration=1, resolution="480p", aspect_ratio="16:9")
            for i in range(args.shots)
        ]  # fmt: skip
        started = time.monotonic()
        entry = batches.submit(requests)
        taken = []
        while entry.pending():
            time.sleep(args.poll)
            taken += batches.collect(entry)
        wall = time.monotonic() - started
        generator.close()
    done = [c for c in taken if c.status == "done"]
    print(json.dumps({"shots": args.shots, "wall_s": wall, "api_calls": batches.tally.api_calls,
                      "cost_usd": sum(c.cost_usd or 0 for c in done), "generated": len(done)}), flush=True)  # fmt: skip


def run_worker(grpc: str, shots: int, cap: int, poll: float, *, batch: bool = False) -> dict:
    """Run ``worker`` (``batch_worker`` with ``batch``) in a fresh interpreter and return its figures."""
    cmd = [sys.executable, __file__, "--worker", "--grpc", grpc, "--shots", str(shots), "--cap", str(cap)]
    cmd += ["--poll", str(poll), "--campaign", f"bench{shots}"] + (["--batch"] if batch else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- the naive loop -------------------------------------------------------------------------------------


def naive(grpc: str, shots: int) -> float:
    """Wall time of ``client.video.generate`` + download, one shot after another."""
    import requests
    import xai_sdk

    urls = image_urls()
    started = time.monotonic()
    with xai_sdk.Client(api_key=KEY, api_host=grpc, use_insecure_channel=True) as client:
        for i in range(shots):
            response = client.video.generate(
                prompt=PROMPT, model=MODEL, image_url=urls[i % len(urls)], duration=1, resolution="480p"
            )
            requests.get(response.url, timeout=60).raise_for_status()
    return time.monotonic() - started


# -- orchestration --------------------------------------------------------------------------------------


def start_emulator(latency: float, cap: int, cache: Path) -> tuple[subprocess.Popen, dict]:
    """The emulator in its own process; returns it and its addresses."""
    cmd = [sys.executable, "-m", "media_pipeline.emulator.server", "--latency", str(latency)]
    cmd += ["--max-concurrent", str(cap), "--render-cache", str(cache)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def stats(url: str) -> dict:
    """The emulator's call counters."""
    import requests

    return requests.get(url, timeout=10).json()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=48)
    p.add_argument("--small", type=int, default=16, help="the smaller campaign of the memory comparison")
    p.add_argument("--latency", type=float, default=3.0)
    p.add_argument("--cap", type=int, default=16, help="emulator max_concurrent = our max_concurrent")
    p.add_argument("--poll", type=float, default=0.25, help="our poll_interval_seconds")
    p.add_argument("--naive-shots", type=int, default=3, help="time the naive loop on this many, extrapolate")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--grpc", help=argparse.SUPPRESS)
    p.add_argument("--campaign", default="bench", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        (batch_worker if args.batch else worker)(args)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-renders-") as cache:
        proc, addr = start_emulator(args.latency, args.cap, Path(cache))
        try:
            run_worker(addr["grpc"], len(COLOURS), args.cap, args.poll)  # warm the render cache
            small = run_worker(addr["grpc"], args.small, args.cap, args.poll)
            before = stats(addr["stats"])
            ours = run_worker(addr["grpc"], args.shots, args.cap, args.poll)
            after = stats(addr["stats"])
            naive_n = min(args.naive_shots, args.shots)
            naive_wall = naive(addr["grpc"], naive_n) if naive_n > 0 else float("nan")
            batch_before = stats(addr["stats"])
            batch = run_worker(addr["grpc"], args.shots, args.cap, args.poll, batch=True)
            batch_after = stats(addr["stats"])
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    naive_full = naive_wall * args.shots / naive_n if naive_n else float("nan")
    limit = math.ceil(args.shots / args.cap) * args.latency
    exhausted = after.get("GenerateVideo", {}).get("RESOURCE_EXHAUSTED", 0) - before.get("GenerateVideo", {}).get(
        "RESOURCE_EXHAUSTED", 0
    )
    when = datetime.datetime.now().isoformat(timespec="seconds")
    print(f"bench_generation {when}: {args.shots} shots, 1 s 480p, emulator latency {args.latency:g} s, cap {args.cap}")
    print(f"  {'':34}{'wall s':>10}{'x limit':>10}")
    print(f"  {'limit ceil(shots/cap) x latency':34}{limit:>10.2f}{1.0:>10.2f}")
    print(f"  {'ours (XaiVideoGenerator, threads)':34}{ours['wall_s']:>10.2f}{ours['wall_s'] / limit:>10.2f}")
    label = f"naive sequential (x{args.shots}/{naive_n})"
    print(f"  {label:34}{naive_full:>10.2f}{naive_full / limit:>10.2f}")
    print(f"  naive measured on {naive_n} shots: {naive_wall:.2f} s, extrapolated linearly to {args.shots}")
    print(
        f"  speed-up ours vs naive: {naive_full / ours['wall_s']:.1f}x; target ours <= 1.15x limit: "
        f"{'met' if ours['wall_s'] <= 1.15 * limit else 'NOT met'}"
    )
    print(
        f"  ours: {ours['generated']}/{args.shots} generated, {ours['api_calls']} API calls "
        f"({exhausted} RESOURCE_EXHAUSTED), cost ${ours['cost_usd']:.2f}"
    )
    sync_paid = after["paid"]["usd"] - before["paid"]["usd"]
    batch_paid = batch_after["paid"]["usd"] - batch_before["paid"]["usd"]
    calls = {
        m: sum(v.values()) - sum(batch_before.get(m, {}).values())
        for m, v in batch_after.items()
        if m in ("CreateBatch", "AddBatchRequests", "ListBatchResults", "ListBatchRequestMetadata", "GenerateVideo")
    }
    print(f"  batch mode (one xAI batch, results taken every {args.poll:g} s), same {args.shots} shots:")
    print(
        f"    wall {batch['wall_s']:.2f} s ({batch['wall_s'] / limit:.2f}x the sync limit), {batch['generated']}/"
        f"{args.shots} generated, {batch['api_calls']} API calls {calls}"
    )
    print(
        f"    cost ${batch['cost_usd']:.2f} (emulator billed ${batch_paid:.2f}) vs sync ${sync_paid:.2f}: "
        f"{batch_paid / sync_paid if sync_paid else float('nan'):.2f}x"
    )
    print("  peak RSS of the generating process (own subprocess per size):")
    for run in (small, ours):
        print(f"    {run['shots']:>4} shots: {run['peak_rss_mb']:7.1f} MB")
    growth = ours["peak_rss_mb"] - small["peak_rss_mb"]
    print(
        f"    growth {small['shots']} -> {ours['shots']} shots: {growth:+.1f} MB; target < 300 MB: "
        f"{'met' if max(small['peak_rss_mb'], ours['peak_rss_mb']) < 300 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
