"""Request pacing: one requests-per-second budget per xAI model and key, shared by every thread, process and machine
that uses the same Dagster instance, and the poll schedule that keeps polls inside that budget.

xAI limits each video model to ``rps`` requests per second per key (the catalog's ``rps``; 1 on every tier) and
answers RESOURCE_EXHAUSTED above it. A campaign alone on its key should never hear that, so every submit (and, unless
configured otherwise, every poll) first takes a slot from a pyrate-limiter sliding-window log kept where every run
sees it: a SQLite file beside a local instance (serialized across processes by a file lock) or a table in the
instance's PostgreSQL database. The window matches the API's (1 s, or 1/rps when longer) plus ``margin_ms``, so the
spacing the API sees survives the few milliseconds between taking a slot and the request reaching it.

``PollSchedule`` waits before polling until a clip can plausibly be done: at first from the catalog's typical
latency per second of video, then from the latencies this process has seen for the model, backing off from there.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import math
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pyrate_limiter import Limiter, PostgresBucket, Rate, RateItem, SQLiteBucket

PACING_URL_ENV = "MEDIA_PIPELINE_PACING_URL"
SQLITE_FILE = "media_pipeline_pacing.sqlite"
MARGIN_MS = 100


def window_rate(rps: float, margin_ms: int = MARGIN_MS) -> Rate:
    """The API's window as a pyrate-limiter ``Rate``: ``floor(rps x w)`` requests per ``w = max(1 s, 1/rps)``,
    the window widened by ``margin_ms``."""
    if rps <= 0:
        raise ValueError(f"a request rate must be above 0, got {rps}")
    window = max(1.0, 1.0 / rps)
    return Rate(max(1, math.floor(rps * window + 1e-9)), round(window * 1000) + margin_ms)


def budget_name(api_host: str, api_key: str, model: str, lane: str) -> str:
    """A short table-safe name for one budget: a hash of the API host, key (never the key itself) and model id, and
    the lane (``requests``, or ``polls`` when polls have their own)."""
    digest = hashlib.sha256(f"{api_host}\0{api_key}\0{model}".encode()).hexdigest()[:16]
    return f"xai_{digest}_{re.sub(r'[^a-z0-9]+', '_', lane.lower())}"


def instance_postgres_url(instance: Any) -> str | None:
    """The PostgreSQL URL of a Dagster instance's run storage, or None when it is not on PostgreSQL."""
    storage = getattr(instance, "run_storage", None)
    url = getattr(storage, "postgres_url", None)
    return url.replace("postgresql+psycopg2://", "postgresql://", 1) if isinstance(url, str) else None


def pacing_url(environ: Mapping[str, str], instance: Any = None) -> str:
    """Where the budgets live: ``MEDIA_PIPELINE_PACING_URL``; else the instance's PostgreSQL; else a SQLite file in
    the instance's folder (``DAGSTER_HOME``), or in the pipeline's home outside Dagster."""
    explicit = environ.get(PACING_URL_ENV, "").strip()
    if explicit:
        return checked_url(explicit)
    if instance is not None:
        return instance_postgres_url(instance) or f"sqlite:///{Path(instance.root_directory) / SQLITE_FILE}"
    folder = environ.get("DAGSTER_HOME") or str(Path(environ.get("MEDIA_PIPELINE_HOME", ".media_pipeline")).absolute())
    return f"sqlite:///{Path(folder) / SQLITE_FILE}"


def checked_url(url: str) -> str:
    """``url`` when budgets can be kept there; else ``ValueError`` naming the variable and at most the URL's scheme
    (the rest may hold a database password)."""
    if not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        got = f"scheme {url.partition('://')[0][:20]!r}" if "://" in url else "no scheme"
        raise ValueError(f"{PACING_URL_ENV}: expected sqlite:///path or postgresql://user:password@host/db, got {got}")
    return url


class Pacer:
    """The budgets kept at one URL (``sqlite:///path`` or ``postgresql://...``), a limiter per budget on first use.

    ``slot`` blocks until the budget has room, then holds the slot while the request is made; thread-safe.
    """

    def __init__(self, url: str, *, margin_ms: int = MARGIN_MS) -> None:
        self.url, self.margin_ms = checked_url(url), margin_ms
        self._limiters: dict[str, Limiter] = {}
        self._guards: dict[str, threading.Lock] = {}
        self._recent: dict[str, collections.deque[list[float]]] = {}
        self._pool: Any = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def slot(self, budget: str, rps: float) -> Iterator[None]:
        """Wait for a slot of ``budget`` (``rps`` requests per second) and make the request inside the block.

        Every attempt puts an item stamped with the time it is made, under the bucket's own cross-process lock
        (SQLite: a file lock; PostgreSQL: a table lock inside ``put``), then sleeps for the wait the bucket names.
        (``Limiter.try_acquire`` would stamp a retry with the time it meant to wake, which a busy process
        overshoots, and its non-blocking mode cannot take filelock 4's lock.) Within this process a slot also waits
        for the request that held the slot a window ago to have returned a window ago: a thread held up between its
        stamp and its request cannot bring two requests closer than the window.
        """
        bucket, guard = self._bucket_for(budget, rps)
        rate = bucket.rates[0]
        window, recent = (rate.interval - self.margin_ms) / 1000, self._recent[f"{budget}@{rps:g}"]
        while True:
            with guard:
                wait = _local_wait(recent, rate.limit, window)
                if wait <= 0:
                    with bucket.limiter_lock() or contextlib.nullcontext():
                        item = RateItem(budget, bucket.now(), 1)
                        if bucket.put(item):
                            held = [time.time(), math.inf]
                            recent.append(held)
                            break
                        wait = bucket.waiting(item) / 1000
            time.sleep(min(max(wait, 0.005), 1.0))
        try:
            yield
        finally:
            held[1] = time.time()

    def _bucket_for(self, budget: str, rps: float) -> tuple[SQLiteBucket | PostgresBucket, threading.Lock]:
        """The budget's bucket (its limiter leaks old items in the background) and its in-process guard."""
        key = f"{budget}@{rps:g}"
        with self._lock:
            if key not in self._limiters:
                rate = window_rate(rps, self.margin_ms)
                self._limiters[key] = Limiter(self._bucket(budget, rate))
                self._guards[key] = threading.Lock()
                self._recent[key] = collections.deque(maxlen=rate.limit)
            return self._limiters[key].bucket_factory.bucket, self._guards[key]  # type: ignore[attr-defined]

    def _bucket(self, table: str, rate: Rate) -> SQLiteBucket | PostgresBucket:
        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return SQLiteBucket.init_from_file([rate], table=table, db_path=str(path), use_file_lock=True)
        if self._pool is None:
            from psycopg_pool import ConnectionPool

            url = self.url.replace("postgres://", "postgresql://", 1)
            self._pool = ConnectionPool(url, min_size=1, max_size=4, open=True, kwargs={"autocommit": False})
        return PostgresBucket(self._pool, table, [rate])

    def close(self) -> None:
        """Stop the limiters' leak threads and close their connections."""
        with self._lock:
            for limiter in self._limiters.values():
                limiter.close()
            self._limiters.clear()
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _local_wait(recent: collections.deque[list[float]], limit: int, window: float) -> float:
    """Seconds until this process may take another slot: the request that took the ``limit``-th last one must have
    returned ``window`` seconds ago (one still in flight is waited for up to two windows after its stamp)."""
    if len(recent) < limit:
        return 0.0
    stamped, returned = recent[0]
    now = time.time()
    if returned == math.inf:
        return 0.01 if now < stamped + 2 * window else 0.0
    return returned + window - now


class PollSchedule:
    """When to poll a model's requests: not before a clip can plausibly be done, then backing off.

    The first poll of a clip of ``d`` seconds waits ``first_poll_share x d x seconds_per_video_second`` (the catalog's
    typical latency), or, once this process has seen clips of the model finish, 0.9 x the quickest of them; before
    any finished, never less than 0.9 x the oldest age at which a request was still pending (``fixed_first``, when
    given, instead of all that). Later polls come at ``backoff`` x the request's age, ``min_interval`` to
    ``max_interval`` seconds apart.
    """

    def __init__(
        self,
        seconds_per_video_second: float,
        *,
        min_interval: float,
        max_interval: float = 30.0,
        backoff: float = 0.1,
        first_poll_share: float = 0.5,
        fixed_first: float | None = None,
    ) -> None:
        self.prior = seconds_per_video_second * first_poll_share
        self.min_interval, self.max_interval, self.backoff = min_interval, max_interval, backoff
        self.fixed_first = fixed_first
        self._quickest: float | None = None
        self._oldest_pending = 0.0
        self._lock = threading.Lock()

    def first_poll(self, duration: float) -> float:
        """Seconds after the submit before the first poll."""
        if self.fixed_first is not None:
            return self.fixed_first
        with self._lock:
            if self._quickest is not None:
                return max(self.min_interval, 0.9 * self._quickest)
            return max(self.min_interval, self.prior * duration, 0.9 * self._oldest_pending)

    def next_poll(self, age: float) -> float:
        """Seconds to wait after a poll that found a request of ``age`` seconds still pending."""
        with self._lock:
            self._oldest_pending = max(self._oldest_pending, age)
            wait = min(self.max_interval, max(self.min_interval, self.backoff * age))
            if self._quickest is None and self.fixed_first is None:
                wait = max(wait, 0.9 * self._oldest_pending - age)
            return wait

    def finished(self, age: float) -> None:
        """A request of this model was found finished ``age`` seconds after its submit."""
        with self._lock:
            self._quickest = age if self._quickest is None else min(self._quickest, age)
