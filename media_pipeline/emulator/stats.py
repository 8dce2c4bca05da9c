"""Call counters by (method, outcome), shared by the gRPC service and the file server."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounter:
    """Thread-safe ``Counter`` of ``(method, outcome)``: e.g. ``("GenerateVideo", "RESOURCE_EXHAUSTED")``."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, method: str, outcome: str) -> None:
        """Count one call."""
        with self._lock:
            self._counts[(method, outcome)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        """A copy of the counts."""
        with self._lock:
            return dict(self._counts)

    def total(self, method: str, outcome: str | None = None) -> int:
        """Calls of ``method`` (with ``outcome``, when given)."""
        with self._lock:
            return sum(n for (m, o), n in self._counts.items() if m == method and outcome in (None, o))

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    def as_json(self) -> dict[str, dict[str, int]]:
        """``{method: {outcome: count}}``, for the ``/_stats`` endpoint."""
        out: dict[str, dict[str, int]] = {}
        for (method, outcome), n in sorted(self.snapshot().items()):
            out.setdefault(method, {})[outcome] = n
        return out
