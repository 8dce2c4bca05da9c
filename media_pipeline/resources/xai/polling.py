"""Waiting for one submitted xAI request to settle, and booking what it cost.

``wait`` polls (``GetDeferredVideo``) on the model's ``PollSchedule`` — no poll before a clip can plausibly be done,
then backing off — with one ``match`` on the reply status: DONE with a URL is journaled ``ready`` (URL, its 24 h
expiry, cost); EXPIRED ``failed`` for the caller to resubmit; FAILED, or DONE without a clip (moderation), raises
``ShotFailed`` with the API's code and message. A journaled (resumed) request is polled at once, and ``Gone`` if the
API no longer knows it. Every settled request is booked in the spend ledger at the cost the API reported.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from xai_sdk.cost import cost_usd_from_usage
from xai_sdk.proto import deferred_pb2, video_pb2

from . import calls, ledger
from .journal import RESULT_URL_LIFE, JournalEntry, now_iso

if TYPE_CHECKING:
    from .shot import ShotRun


def wait(shot: ShotRun, entry: JournalEntry, *, resumed: bool) -> JournalEntry:
    """Poll ``entry``'s request until it settles, then journal how (see the module); ``ShotFailed`` past the
    generator's ``timeout_seconds``, the request staying journaled for the next run."""
    g, request = shot.g, shot.request
    request_id = entry.request_id
    assert request_id is not None
    client, schedule = g.client(), g.budgets().poll_schedule(request.model)
    submitted, deadline = time.monotonic(), shot.started + g.timeout_seconds
    pause = 0.0 if resumed else schedule.first_poll(request.duration)
    while (remaining := deadline - time.monotonic()) > 0:
        time.sleep(min(pause, remaining))
        reply = g.call(
            shot.where, shot.tally, "GetDeferredVideo", lambda: calls.get(client, request_id),
            not_found_is_gone=resumed, model=request.model,
        )  # fmt: skip
        age = time.monotonic() - submitted
        response = reply.response if reply.HasField("response") else None
        match reply.status:
            case deferred_pb2.PENDING | deferred_pb2.INVALID_DEFERRED_STATUS:
                pause = schedule.next_poll(age)
                continue
            case deferred_pb2.DONE if response is not None and response.video.url:
                cost = book(shot, request_id, reply, resumed=resumed, age=age)
                return shot.save(
                    entry, status="ready", result_url=response.video.url, cost_usd=cost,
                    url_expires_at=now_iso(RESULT_URL_LIFE),
                )  # fmt: skip
            case deferred_pb2.EXPIRED:
                book(shot, request_id, reply, resumed=resumed, age=age)
                return shot.save(entry, status="failed", error="EXPIRED", finished_at=now_iso())
            case _:  # FAILED, or DONE without a clip (moderation)
                book(shot, request_id, reply, resumed=resumed, age=age)
                message = calls.failure(request_id, reply, g.api_key)
                shot.save(entry, status="failed", error=message, finished_at=now_iso())
                raise shot.failed(f"{shot.where}: {message}")
    raise shot.failed(
        f"{shot.where}: xAI request {request_id} still pending after {g.timeout_seconds:.0f} s; "
        "it stays journaled: the next run resumes it at no cost"
    )


def book(
    shot: ShotRun, request_id: str, reply: video_pb2.GetDeferredVideoResponse, *, resumed: bool, age: float
) -> float | None:
    """A settled request: its cost (the estimate when DONE reports none) in the ledger and the tally, and its
    latency in the model's poll schedule."""
    g, request = shot.g, shot.request
    if not resumed:
        g.budgets().poll_schedule(request.model).finished(age)
    response = reply.response if reply.HasField("response") else None
    cost = cost_usd_from_usage(response.usage) if response is not None and response.HasField("usage") else None
    if reply.status == deferred_pb2.DONE and cost is None:
        cost = g.estimate_usd(request)
        shot.log.warning("%s: the API reported no cost for %s; using the estimate", shot.where, request_id)
    ledger.record(shot.store, request.campaign, request.shot, request.cache_key, request_id, cost or 0.0, final=True)
    shot.tally.cost_usd += cost or 0.0
    return cost
