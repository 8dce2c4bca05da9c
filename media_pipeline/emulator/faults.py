"""What the emulator gets wrong on purpose, so clients can be tested against the failures the real API has.

Every fault is either a fraction of calls (drawn from one seeded RNG, so a run is repeatable) or "the first N"
(counted from when the faults were set), or a marker in the prompt. ``FaultState`` makes the draws, under a
lock, for the gRPC and HTTP threads alike.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class Faults:
    """Fault injection settings; the defaults inject nothing except on the marker prompts."""

    fail_rate: float = 0.0
    fail_first: int = 0
    fail_code: str = "UNAVAILABLE"
    moderation_marker: str | None = "[moderate]"
    expire_rate: float = 0.0
    expire_first: int = 0
    expire_marker: str | None = "[expire]"
    slow_poll_seconds: float = 0.0
    download_500_rate: float = 0.0
    download_500_first: int = 0
    truncate_rate: float = 0.0
    truncate_first: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        status_code(self.fail_code)  # reject a bad code when configured, not on the first call
        for name in ("fail_rate", "expire_rate", "download_500_rate", "truncate_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")


def status_code(name: str) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` called ``name`` (e.g. ``RESOURCE_EXHAUSTED``)."""
    try:
        return grpc.StatusCode[name.upper()]
    except KeyError:
        raise ValueError(f"unknown gRPC status code {name!r}") from None


class FaultState:
    """Draws fault decisions for one configuration: seeded RNG plus "first N" counters."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def _draw(self, kind: str, rate: float, first: int) -> bool:
        with self._lock:
            seen = self._seen.get(kind, 0)
            self._seen[kind] = seen + 1
            return seen < first or (rate > 0 and self._rng.random() < rate)

    def start_fails(self) -> grpc.StatusCode | None:
        """The code this GenerateVideo call fails with, or None."""
        f = self.faults
        return status_code(f.fail_code) if self._draw("start", f.fail_rate, f.fail_first) else None

    def moderated(self, prompt: str) -> bool:
        """True when the prompt carries the moderation marker."""
        marker = self.faults.moderation_marker
        return bool(marker) and marker in prompt

    def expires(self, prompt: str) -> bool:
        """True when this accepted request is to come back EXPIRED."""
        f = self.faults
        drawn = self._draw("expire", f.expire_rate, f.expire_first)
        return drawn or (bool(f.expire_marker) and f.expire_marker in prompt)

    def download_fails(self) -> bool:
        """True when this download is to be answered with HTTP 500."""
        f = self.faults
        return self._draw("download_500", f.download_500_rate, f.download_500_first)

    def truncates(self) -> bool:
        """True when this download is to stop short of its Content-Length."""
        f = self.faults
        return self._draw("truncate", f.truncate_rate, f.truncate_first)
