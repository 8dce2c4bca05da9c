"""The emulator's request-rate limit: a sliding window per (API key, model), as xAI limits video models.

``rps`` requests per second: a call is admitted when fewer than ``capacity`` admitted calls of the same key and
model fall in the last ``window`` seconds (1 s, or 1/rps when that is longer). Refused calls take no slot.
Times are wall-clock (``time.time()``), so the admission time a test reads back is the one the window used.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    """Thread-safe sliding-window limiter."""

    def __init__(self, rps: float) -> None:
        if rps <= 0:
            raise ValueError(f"rps must be above 0, got {rps}")
        self.rps = rps
        self.window = max(1.0, 1.0 / rps)
        self.capacity = max(1, math.floor(rps * self.window + 1e-9))
        self._admitted: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, model: str) -> float | None:
        """The admission time of this call, or None when the window is full."""
        with self._lock:
            now = time.time()
            admitted = self._admitted.setdefault((key, model), deque())
            while admitted and admitted[0] <= now - self.window:
                admitted.popleft()
            if len(admitted) >= self.capacity:
                return None
            admitted.append(now)
            return now
