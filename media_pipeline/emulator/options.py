"""The ``media-pipeline xai-emulator`` command's options, and the ``EmulatorConfig`` they make.

Each fault that is "a fraction of calls or the first N" gets ``--<fault>-rate`` and ``--<fault>-first``; each
prompt marker ``--<fault>-marker`` (an empty value turns the marker off). The models, prices and capabilities
are the catalog's, with ``MEDIA_PIPELINE_XAI_MODELS`` applied as for the pipeline.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from ..resources.xai.catalog import BATCH_RESULT_URL_SECONDS, RESULT_URL_SECONDS, catalog_from_env
from .config import EmulatorConfig
from .faults import FAULTY_METHODS, Faults

DRAWN_FAULTS = {
    "fail": "calls of --fail-method answered --fail-code",
    "lose-submit-reply": "submits accepted and billed, but answered --lose-submit-reply-code",
    "failed": "requests that end FAILED [internal_error]",
    "expire": "requests that come back EXPIRED",
    "never-finish": "requests that stay PENDING for ever",
    "download-500": "downloads answered 500",
    "truncate": "downloads cut short",
    "not-video": "downloads answered 200 with a body that is not a video",
    "gone": "requests whose result URL answers --gone-status for good",
    "drift": "rendered requests whose clip starts on another picture",
    "freeze": "rendered requests whose clip freezes early",
}
MARKERS = {
    "moderation": "prompts containing this FAIL moderation",
    "failed": "prompts containing this end FAILED [internal_error]",
    "expire": "prompts containing this come back EXPIRED",
    "never-finish": "prompts containing this stay PENDING for ever",
    "not-video": "every download of such a prompt's result is not a video",
    "gone": "such a prompt's result URL answers --gone-status for good",
    "drift": "such a prompt's clip starts on another picture",
    "freeze": "such a prompt's clip freezes early",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``xai-emulator`` command's options."""
    p = argparse.ArgumentParser(
        prog="media-pipeline xai-emulator", description="Serve the xAI video API emulator on 127.0.0.1."
    )
    p.add_argument("--port", type=int, default=0, help="gRPC port on 127.0.0.1 (0: a free one)")
    p.add_argument("--http-port", type=int, default=0, help="result-file HTTP port on 127.0.0.1 (0: a free one)")
    p.add_argument("--latency", type=float, default=1.0, help="seconds every request stays PENDING")
    p.add_argument("--latency-per-second", type=float, default=0.0, help="extra PENDING seconds per video second")
    p.add_argument("--latency-jitter", type=float, default=0.0, help="each latency drawn within +/- this (--seed)")
    p.add_argument("--batch-latency", type=float, default=None, help="seconds a batch request stays pending")
    p.add_argument("--max-concurrent", type=int, default=16, help="PENDING requests before RESOURCE_EXHAUSTED")
    p.add_argument("--rps", type=float, default=None, help="submits per second per key and model (default: none)")
    p.add_argument("--rps-polls", action="store_true", help="polls spend the same --rps budget as submits")
    p.add_argument("--url-ttl", type=float, default=RESULT_URL_SECONDS, help="seconds a result URL lives")
    p.add_argument("--batch-url-ttl", type=float, default=BATCH_RESULT_URL_SECONDS, help="... of a batch result")
    p.add_argument("--url-expired-status", type=int, default=403, choices=(403, 404, 410), help="a lapsed URL's")
    p.add_argument("--render-concurrency", type=int, default=2, help="clips encoded at once")
    p.add_argument("--render-cache", type=Path, default=None, help="folder keeping renders between runs")
    p.add_argument("--require-key", default=None, help="API key to expect (else any key is accepted)")
    p.add_argument(
        "--no-fetch-urls", dest="fetch_urls", action="store_false", help="refuse http(s) image URLs (a private store)"
    )
    faults = p.add_argument_group("faults")
    for name, what in DRAWN_FAULTS.items():
        faults.add_argument(f"--{name}-rate", type=float, default=0.0, help=f"fraction of {what}")
        faults.add_argument(f"--{name}-first", type=int, default=0, help=f"the first N {what}")
    for name, what in MARKERS.items():
        default = getattr(Faults, f"{name.replace('-', '_')}_marker")
        faults.add_argument(f"--{name}-marker", default=default, help=f"{what} (default {default}; '' for none)")
    faults.add_argument("--fail-code", default="UNAVAILABLE", help="gRPC code of the --fail faults")
    faults.add_argument("--fail-method", default="GenerateVideo", choices=FAULTY_METHODS, help="method that fails")
    faults.add_argument("--lose-submit-reply-code", default="DEADLINE_EXCEEDED", help="code a lost reply shows")
    faults.add_argument("--gone-status", type=int, default=410, choices=(404, 410), help="HTTP status of gone")
    faults.add_argument("--slow-poll", type=float, default=0.0, help="seconds every GetDeferredVideo sleeps")
    for kind in ("drift", "freeze"):
        faults.add_argument(
            f"--{kind}-repeats", type=_counts, default=(), help=f"e.g. 2,3: the 2nd and 3rd identical requests {kind}"
        )
    faults.add_argument("--repeat-variants", type=int, default=1, help="identical requests cycle through N renders")
    faults.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    return p


def _counts(text: str) -> tuple[int, ...]:
    """``"2,3"`` -> ``(2, 3)``."""
    return tuple(int(part) for part in text.split(",") if part.strip())


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> EmulatorConfig:
    """An ``EmulatorConfig`` from parsed command-line options and the environment; ``ValueError`` names a bad
    one."""
    values = vars(args)
    fields = {f.name for f in dataclasses.fields(Faults)}
    faults = {name: values[name] for name in fields if name in values}
    for name in MARKERS:
        key = f"{name.replace('-', '_')}_marker"
        faults[key] = values[key] or None
    faults["slow_poll_seconds"] = args.slow_poll
    return EmulatorConfig(
        latency_seconds=args.latency,
        latency_per_second=args.latency_per_second,
        latency_jitter_seconds=args.latency_jitter,
        batch_latency_seconds=args.batch_latency,
        max_concurrent=args.max_concurrent,
        rps=args.rps,
        rps_polls=args.rps_polls,
        require_key=args.require_key,
        render_concurrency=args.render_concurrency,
        catalog=catalog_from_env(os.environ if environ is None else environ),
        url_ttl_seconds=args.url_ttl,
        batch_url_ttl_seconds=args.batch_url_ttl,
        url_expired_status=args.url_expired_status,
        fetch_urls=args.fetch_urls,
        seed=args.seed,
        faults=Faults(**faults),
    )
