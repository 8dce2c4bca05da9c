"""Benchmark: generating a campaign's clips through ``XaiVideoGenerator`` against the xAI emulator in the real
API's shape: 48 shots, 1 request per second per key and model (``--rps 1``), 30 s latency.

Prints, side by side: the limit (the paced submits, ``(shots - 1) / rps``, plus one latency); our wall time
(``generate`` fanned out over a thread per shot, paced by the shared budget; journal + download + probe included)
with polls on their own (``pace_polls=False``, emulator limiting submits) and, as the default, polls in the same
budget (emulator ``--rps-polls``, whose own floor is ``(2 x shots - 1) / rps``); the naive loop
(``client.video.generate`` per shot, one after another; timed on ``--naive-shots`` and extrapolated); submits,
polls and RESOURCE_EXHAUSTED counted by the emulator for each. Then batch mode on the same shots, and the peak RSS
of the generating process for two campaign sizes (each in its own subprocess). The emulators run in their own
processes. Run: ``python bench/bench_generation.py`` (about 6 minutes).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import io
import json
import logging
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
    from media_pipeline.resources.store import LocalMediaStore
    from media_pipeline.resources.xai.generator import XaiVideoGenerator

    urls = image_urls()
    log = logging.getLogger("bench")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as root:
        generator = XaiVideoGenerator(
            api_key=KEY,
            api_host=args.grpc,
            use_insecure_channel=True,
            max_concurrent=args.shots,
            poll_interval_seconds=args.poll,
            pace_polls=args.pace_polls,
            pacing_url=f"sqlite:///{root}/pacing.sqlite",
        )
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
    from media_pipeline.resources.store import LocalMediaStore
    from media_pipeline.resources.xai.batch import XaiBatches
    from media_pipeline.resources.xai.generator import XaiVideoGenerator

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


def run_worker(grpc: str, shots: int, poll: float, *, batch: bool = False, pace_polls: bool = False) -> dict:
    """Run ``worker`` (``batch_worker`` with ``batch``) in a fresh interpreter and return its figures."""
    cmd = [sys.executable, __file__, "--worker", "--grpc", grpc, "--shots", str(shots), "--poll", str(poll)]
    cmd += ["--campaign", f"bench{shots}"] + (["--batch"] if batch else []) + (["--pace-polls"] if pace_polls else [])
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


def start_emulator(
    latency: float, rps: float, cache: Path, *, rps_polls: bool = False
) -> tuple[subprocess.Popen, dict]:
    """The emulator in its own process (no cap on requests in flight; ``rps`` per key and model); returns it and
    its addresses."""
    cmd = [sys.executable, "-m", "media_pipeline.emulator.server", "--latency", str(latency), "--rps", str(rps)]
    cmd += ["--max-concurrent", "1000", "--render-cache", str(cache)] + (["--rps-polls"] if rps_polls else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def stats(url: str) -> dict:
    """The emulator's call counters."""
    import requests

    return requests.get(url, timeout=10).json()


def counted(before: dict, after: dict) -> dict[str, int]:
    """Submits, polls and refusals the emulator saw between two ``/_stats`` documents."""

    def n(method: str, outcome: str | None = None) -> int:
        def total(doc: dict) -> int:
            calls = doc.get(method, {})
            return calls.get(outcome, 0) if outcome else sum(calls.values())

        return total(after) - total(before)

    return {
        "submits": n("GenerateVideo", "OK"),
        "polls": n("GetDeferredVideo"),
        "refused": n("GenerateVideo", "RESOURCE_EXHAUSTED") + n("GetDeferredVideo", "RESOURCE_EXHAUSTED"),
    }


def measure(args: argparse.Namespace, cache: str, *, rps_polls: bool) -> dict:
    """Our run of ``args.shots`` on a fresh emulator (polls limited too with ``rps_polls``), with its counts."""
    proc, addr = start_emulator(args.latency, args.rps, Path(cache), rps_polls=rps_polls)
    try:
        before = stats(addr["stats"])
        run = run_worker(addr["grpc"], args.shots, args.poll, pace_polls=rps_polls)
        return {**run, **counted(before, stats(addr["stats"])), "paid_usd": stats(addr["stats"])["paid"]["usd"]}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=48)
    p.add_argument("--small", type=int, default=16, help="the smaller campaign of the memory comparison")
    p.add_argument("--latency", type=float, default=30.0)
    p.add_argument("--rps", type=float, default=1.0, help="the emulator's (and the catalog's) requests per second")
    p.add_argument("--poll", type=float, default=2.0, help="our poll_interval_seconds (the shortest poll interval)")
    p.add_argument("--naive-shots", type=int, default=2, help="time the naive loop on this many, extrapolate")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--pace-polls", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--grpc", help=argparse.SUPPRESS)
    p.add_argument("--campaign", default="bench", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        (batch_worker if args.batch else worker)(args)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-renders-") as cache:
        ours = measure(args, cache, rps_polls=False)
        shared = measure(args, cache, rps_polls=True)
        proc, addr = start_emulator(args.latency, args.rps, Path(cache))
        try:
            small = run_worker(addr["grpc"], args.small, args.poll)
            naive_before = stats(addr["stats"])
            naive_n = min(args.naive_shots, args.shots)
            naive_wall = naive(addr["grpc"], naive_n) if naive_n > 0 else float("nan")
            naive_counts = counted(naive_before, stats(addr["stats"]))
            batch_before = stats(addr["stats"])
            batch = run_worker(addr["grpc"], args.shots, args.poll, batch=True)
            batch_after = stats(addr["stats"])
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    naive_full = naive_wall * args.shots / naive_n if naive_n else float("nan")
    limit = (args.shots - 1) / args.rps + args.latency
    shared_floor = (2 * args.shots - 1) / args.rps
    when = datetime.datetime.now().isoformat(timespec="seconds")
    print(
        f"bench_generation {when}: {args.shots} shots, 1 s 480p, emulator {args.rps:g} request/s per key and model, "
        f"latency {args.latency:g} s"
    )
    print(f"  {'':46}{'wall s':>9}{'x limit':>9}{'submits':>9}{'polls':>7}{'refused':>9}")
    print(f"  {f'limit ({args.shots - 1} s of paced submits + latency)':46}{limit:>9.1f}{1.0:>9.2f}")

    def row(label: str, wall: float, counts: dict) -> None:
        print(
            f"  {label:46}{wall:>9.1f}{wall / limit:>9.2f}{counts['submits']:>9}{counts['polls']:>7}"
            f"{counts['refused']:>9}"
        )

    row("ours, polls on their own (pace_polls=False)", ours["wall_s"], ours)
    row("ours, polls in the budget (--rps-polls)", shared["wall_s"], shared)
    print(f"  {f'  floor of the line above ({2 * args.shots - 1} paced requests)':46}{shared_floor:>9.1f}")
    naive_scaled = {k: round(v * args.shots / naive_n) for k, v in naive_counts.items()} if naive_n else naive_counts
    row(f"naive client.video.generate loop (x{args.shots}/{naive_n})", naive_full, naive_scaled)
    print(f"  naive measured on {naive_n} shots: {naive_wall:.1f} s, {naive_counts}, extrapolated linearly")
    print(
        f"  ours vs naive: {naive_full / ours['wall_s']:.1f}x faster; target ours <= 1.10x limit with 0 refused: "
        f"{'met' if ours['wall_s'] <= 1.10 * limit and ours['refused'] == 0 else 'NOT met'}; "
        f"{ours['generated']}/{args.shots} generated, cost ${ours['cost_usd']:.2f}"
    )
    sync_paid = ours["paid_usd"]
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
