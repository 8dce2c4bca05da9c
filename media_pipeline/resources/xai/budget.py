"""How one generator's calls share the models' request budgets (``pacing.py``) and learn when to poll.

``Budgets`` holds the process's one ``Pacer`` (opened on first use, beside the run's instance unless a pacing URL is
configured) and one ``PollSchedule`` per model. ``paced`` makes a call inside a slot of its model's budget, keyed
by API host, key and model id (aliases resolved); polls take a slot only when ``pace_polls``. Within the process a
poll waits while a submit waits, so a campaign ends one latency after its last submit whenever its polls happen.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator

from .catalog import ModelCatalog
from .pacing import Pacer, PollSchedule, budget_name, pacing_url


class Budgets:
    """The request budgets and poll schedules of one API host and key; thread-safe."""

    def __init__(
        self,
        api_host: str,
        api_key: str,
        catalog: Callable[[], ModelCatalog],
        *,
        rps: float | None,
        pace_polls: bool,
        url: str,
        margin_ms: int,
        poll_interval_seconds: float,
        first_poll_seconds: float | None,
    ) -> None:
        self.api_host, self._api_key, self.catalog = api_host, api_key, catalog
        self.rps, self.pace_polls, self.url, self.margin_ms = rps, pace_polls, url, margin_ms
        self.poll_interval_seconds, self.first_poll_seconds = poll_interval_seconds, first_poll_seconds
        self._lock = threading.Lock()
        self._pacer: Pacer | None = None
        self._schedules: dict[str, PollSchedule] = {}
        self._submits_waiting = 0

    def close(self) -> None:
        """Close the pacing backend (a later call opens a new one)."""
        with self._lock:
            if self._pacer is not None:
                self._pacer.close()
                self._pacer = None

    @contextlib.contextmanager
    def paced(self, model: str | None, method: str) -> Iterator[None]:
        """Make the request inside the block once it has a slot of ``model``'s request budget, shared with every run
        on the instance (a poll only when ``pace_polls``; nothing without a model)."""
        submit = method == "GenerateVideo"
        if model is None or not (submit or self.pace_polls):
            yield
            return
        spec = self.catalog().get(model)
        with self._lock:
            if self._pacer is None:
                self._pacer = Pacer(self.url or pacing_url(os.environ), margin_ms=self.margin_ms)
            pacer = self._pacer
        with contextlib.ExitStack() as held:
            with self._submits_first(submit):
                budget = budget_name(self.api_host, self._api_key, spec.id, "requests")
                held.enter_context(pacer.slot(budget, self.rps or spec.rps))
            yield

    @contextlib.contextmanager
    def _submits_first(self, submit: bool) -> Iterator[None]:
        """Within this process a poll waits while a submit waits."""
        with self._lock:
            self._submits_waiting += submit
        try:
            while not submit and self._submits_waiting:
                time.sleep(0.05)
            yield
        finally:
            with self._lock:
                self._submits_waiting -= submit

    def poll_schedule(self, model: str) -> PollSchedule:
        """When to poll ``model``'s requests, learnt across this process's shots."""
        spec = self.catalog().get(model)
        with self._lock:
            if spec.id not in self._schedules:
                self._schedules[spec.id] = PollSchedule(
                    spec.seconds_per_video_second,
                    min_interval=self.poll_interval_seconds,
                    fixed_first=self.first_poll_seconds,
                )
            return self._schedules[spec.id]
