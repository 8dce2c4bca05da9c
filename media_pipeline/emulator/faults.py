"""What the emulator gets wrong on purpose, so clients can be tested against the failures the real API has.

Every fault is either a fraction of calls (drawn from one seeded RNG, so a run is repeatable) or "the first N"
(counted from when the faults were set), or a marker in the prompt. Faults of a *call* (a failed RPC, a lost
reply, a failed or bad download) count calls; faults of a *request* (moderated, FAILED with an internal error,
expired, never finishing, a result that is gone for good) are drawn once when the request is accepted, and a
prompt marker makes them certain. ``FaultState`` makes the draws, under a lock, for the gRPC and HTTP threads alike.

A request that renders also gets a *look* (``renders.LOOKS``): clean, ``drift`` (the clip starts on another
picture) or ``freeze`` (it stops moving early). The API has no seed, so the takes of one shot are identical
requests; the emulator counts them (same image, last frame, prompt, duration, resolution, aspect ratio and audio,
whatever the model) from when the faults were set, and ``drift_repeats=(2,)`` makes every shot's second request
drift. Rates, "first N" and markers work as for the other faults. With ``repeat_variants`` > 1 identical requests
cycle through that many slightly different clean renders, as a stochastic model's takes differ.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field, replace

import grpc

FAULTY_METHODS = ("GenerateVideo", "GetDeferredVideo")


@dataclass(frozen=True)
class Faults:
    """Fault injection settings; the defaults inject nothing except on the marker prompts."""

    fail_rate: float = 0.0  # calls of `fail_method` answered `fail_code`, before anything happens
    fail_first: int = 0
    fail_code: str = "UNAVAILABLE"
    fail_method: str = "GenerateVideo"
    lose_submit_reply_rate: float = 0.0  # accepted (and billed) submits whose reply is lost
    lose_submit_reply_first: int = 0
    lose_submit_reply_code: str = "DEADLINE_EXCEEDED"  # what the client sees instead of the request id
    moderation_marker: str | None = "[moderate]"
    failed_rate: float = 0.0  # requests that end FAILED [internal_error]
    failed_first: int = 0
    failed_marker: str | None = "[fail]"
    expire_rate: float = 0.0
    expire_first: int = 0
    expire_marker: str | None = "[expire]"
    never_finish_rate: float = 0.0  # requests that stay PENDING for ever
    never_finish_first: int = 0
    never_finish_marker: str | None = "[never]"
    slow_poll_seconds: float = 0.0
    download_500_rate: float = 0.0
    download_500_first: int = 0
    truncate_rate: float = 0.0
    truncate_first: int = 0
    not_video_rate: float = 0.0  # downloads answered 200 with a body that is not a video
    not_video_first: int = 0
    not_video_marker: str | None = "[not-video]"  # every download of such a request
    gone_rate: float = 0.0  # requests whose result answers `gone_status` for good
    gone_first: int = 0
    gone_marker: str | None = "[gone]"
    gone_status: int = 410
    drift_rate: float = 0.0  # rendered requests whose clip starts on another picture
    drift_first: int = 0
    drift_marker: str | None = "[drift]"
    drift_repeats: tuple[int, ...] = ()  # the N-th identical requests (1-based) that drift: (2,) = every 2nd take
    freeze_rate: float = 0.0  # rendered requests whose clip freezes early
    freeze_first: int = 0
    freeze_marker: str | None = "[freeze]"
    freeze_repeats: tuple[int, ...] = ()
    repeat_variants: int = 1  # identical requests cycle through this many renders (1: they share one)
    seed: int = 0

    def __post_init__(self) -> None:  # reject bad settings when configured, not on the first call
        status_code(self.fail_code)
        status_code(self.lose_submit_reply_code)
        if self.fail_method not in FAULTY_METHODS:
            raise ValueError(f"fail_method must be one of {', '.join(FAULTY_METHODS)}, got {self.fail_method!r}")
        if self.gone_status not in (404, 410):
            raise ValueError(f"gone_status must be 404 or 410, got {self.gone_status}")
        for name, value in vars(self).items():
            if name.endswith("_rate") and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
            if name.endswith("_first") and value < 0:
                raise ValueError(f"{name} must not be negative")
            if name.endswith("_repeats"):
                object.__setattr__(self, name, tuple(int(n) for n in value))  # a list from JSON or the CLI
                if any(n < 1 for n in value):
                    raise ValueError(f"{name} counts identical requests from 1, got {value}")
        if self.repeat_variants < 1:
            raise ValueError(f"repeat_variants must be at least 1, got {self.repeat_variants}")


def status_code(name: str) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` called ``name`` (e.g. ``RESOURCE_EXHAUSTED``)."""
    try:
        return grpc.StatusCode[name.upper()]
    except KeyError:
        raise ValueError(f"unknown gRPC status code {name!r}") from None


@dataclass(frozen=True)
class RequestFate:
    """What happens to one accepted request, decided when it is accepted."""

    outcome: str = "done"  # done | moderated | failed | expired | never
    gone: bool = False
    not_video: bool = False
    look: str = "clean"  # clean | drift | freeze: how a done request's clip comes out
    variant: int = 0  # which of the ``repeat_variants`` renders (0: the plain one)
    repeat: int = 0  # this is the N-th identical request (0: not admitted yet)
    prompt: str = ""
    state: FaultState | None = field(default=None, compare=False, repr=False)  # the draws it came from

    def admitted(self, inputs: str) -> RequestFate:
        """This fate once the request is accepted; ``inputs`` names what makes requests identical (see
        ``jobs.request_inputs``): its repeat number, look and variant are decided now."""
        return self if self.state is None else self.state.take(self, inputs)


class FaultState:
    """Draws fault decisions for one configuration: seeded RNG plus "first N" counters."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._seen: dict[str, int] = {}
        self._repeats: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _draw(self, kind: str) -> bool:
        rate: float = getattr(self.faults, f"{kind}_rate")
        first: int = getattr(self.faults, f"{kind}_first")
        with self._lock:
            seen = self._seen.get(kind, 0)
            self._seen[kind] = seen + 1
            return seen < first or (rate > 0 and self._rng.random() < rate)

    def _marked(self, marker: str | None, prompt: str) -> bool:
        return bool(marker) and marker in prompt

    def call_fails(self, method: str) -> grpc.StatusCode | None:
        """The code this call of ``method`` fails with, or None."""
        if method != self.faults.fail_method or not self._draw("fail"):
            return None
        return status_code(self.faults.fail_code)

    def submit_reply_lost(self) -> grpc.StatusCode | None:
        """The code the client sees instead of this accepted submit's reply, or None."""
        return status_code(self.faults.lose_submit_reply_code) if self._draw("lose_submit_reply") else None

    def fate(self, prompt: str) -> RequestFate:
        """The outcome of a request just accepted with ``prompt``."""
        f = self.faults
        outcome = "done"
        if self._marked(f.moderation_marker, prompt):
            outcome = "moderated"
        elif self._draw("failed") or self._marked(f.failed_marker, prompt):
            outcome = "failed"
        elif self._draw("expire") or self._marked(f.expire_marker, prompt):
            outcome = "expired"
        elif self._draw("never_finish") or self._marked(f.never_finish_marker, prompt):
            outcome = "never"
        gone = outcome == "done" and (self._draw("gone") or self._marked(f.gone_marker, prompt))
        return RequestFate(outcome, gone, self._marked(f.not_video_marker, prompt), prompt=prompt, state=self)

    def take(self, fate: RequestFate, inputs: str) -> RequestFate:
        """``fate`` of an accepted request with ``inputs``: counted among identical requests, given its look (a
        drift before a freeze) and its variant."""
        f = self.faults
        with self._lock:
            self._repeats[inputs] += 1
            repeat = self._repeats[inputs]
        look = "clean"
        if fate.outcome == "done":
            for kind in ("drift", "freeze"):
                repeats: tuple[int, ...] = getattr(f, f"{kind}_repeats")
                marker: str | None = getattr(f, f"{kind}_marker")
                if self._draw(kind) or repeat in repeats or self._marked(marker, fate.prompt):
                    look = kind
                    break
        return replace(fate, look=look, variant=(repeat - 1) % f.repeat_variants, repeat=repeat, state=None)

    def download_fails(self) -> bool:
        """True when this download is to be answered with HTTP 500."""
        return self._draw("download_500")

    def truncates(self) -> bool:
        """True when this download is to stop short of its Content-Length."""
        return self._draw("truncate")

    def not_video(self) -> bool:
        """True when this download is to be answered with a body that is not a video."""
        return self._draw("not_video")
