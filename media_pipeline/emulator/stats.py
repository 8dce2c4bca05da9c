"""What the emulator saw: call counters by (method, outcome) and a log of every paid request.

``CallCounter`` is shared by the gRPC services and the file server. ``PaidLog`` keeps one ``Paid`` per request
the emulator accepted — including a submit whose reply was lost, and each request of a batch — with the server's
wall-clock time, so a test can check the spacing of submits and the money billed per model. ``stats_json`` is the
``/_stats`` document: ``{method: {outcome: n}, ..., "paid": {...}, "submits": [...]}``; ``paid.looks`` counts the
drifted and frozen takes.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import asdict, dataclass, replace


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
        """``{method: {outcome: count}}``."""
        out: dict[str, dict[str, int]] = {}
        for (method, outcome), n in sorted(self.snapshot().items()):
            out.setdefault(method, {})[outcome] = n
        return out


@dataclass(frozen=True)
class Paid:
    """One request the emulator accepted and will bill (unless it never renders)."""

    at: float  # server wall-clock time (time.time()) of the acceptance
    model: str  # the canonical id, aliases resolved
    key: str  # a short hash of the API key, never the key
    request_id: str
    usd: float  # what the request is billed: 0 when it is moderated, FAILED, expires or never finishes
    reply_lost: bool = False
    batch_id: str = ""
    audio: bool = True  # the request's generate_audio (unset: True)
    keyframes: int = 0
    reference_images: int = 0
    look: str = "clean"  # how its take comes out: clean, drift or freeze (faults.RequestFate.look)
    repeat: int = 1  # the N-th identical request (the N-th take of a shot)


class PaidLog:
    """Every accepted request, in order; thread-safe."""

    def __init__(self) -> None:
        self._entries: list[Paid] = []
        self._lock = threading.Lock()

    def add(self, entry: Paid) -> None:
        """Record one accepted request."""
        with self._lock:
            self._entries.append(entry)

    def void(self, request_ids: list[str]) -> None:
        """Bill nothing for these requests (a cancelled batch's pending ones); they stay in the log."""
        voided = set(request_ids)
        with self._lock:
            self._entries = [replace(e, usd=0.0) if e.request_id in voided else e for e in self._entries]

    def entries(self) -> list[Paid]:
        """A copy of the log, oldest first."""
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def summary(self) -> dict[str, object]:
        """Paid requests and USD billed, in total and per model; sync submits and batch requests apart."""
        entries = self.entries()
        by_model: dict[str, dict[str, float]] = {}
        for e in entries:
            row = by_model.setdefault(e.model, {"requests": 0, "usd": 0.0})
            row["requests"] += 1
            row["usd"] = round(row["usd"] + e.usd, 10)
        return {
            "requests": len(entries),
            "submits": sum(1 for e in entries if not e.batch_id),
            "batch_requests": sum(1 for e in entries if e.batch_id),
            "replies_lost": sum(1 for e in entries if e.reply_lost),
            "usd": round(sum(e.usd for e in entries), 10),
            "by_model": by_model,
            "looks": dict(Counter(e.look for e in entries if e.look != "clean")),
        }


def stats_json(counter: CallCounter, paid: PaidLog) -> dict[str, object]:
    """The ``/_stats`` document: the counters, the paid summary and every sync submit's time."""
    submits = [asdict(e) for e in paid.entries() if not e.batch_id]
    return {**counter.as_json(), "paid": paid.summary(), "submits": submits}
