"""Claims: at most one holder per clip at a time, across threads, processes and machines, before anything is paid.

A claim is an object ``claims/<cache_key>/<generation>.json`` made with the store's conditional create
(``If-None-Match: *`` on S3, an exclusive link in a folder), so of any number of runs racing for a clip exactly one
creates generation N and holds it. The holder renews its lease (``expires_at``) from a heartbeat thread while its
request is in flight. Anyone else waits for the clip to appear instead of submitting its own request. A claim can be
taken over (by creating generation N+1, again exclusively) only when it was released, its lease ran out, or its
holder is a process on this host that no longer exists (a SIGKILLed run is noticed at once). The taker gets the old
claim back as ``previous``: its journal key names the request already paid for, which the taker adopts.

When the holder stored the clip its claims are deleted; when it failed, its claim is kept, marked released with
the error, and a run that was waiting on it reports that error rather than paying for the same failure again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .store import MediaStore
from .xai.journal import now_iso


def _host_id() -> str:
    """This host and PID namespace: PIDs are comparable only within one."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}/{namespace}"


HOST = _host_id()


class ClaimBody(BaseModel):
    """What a claim object says: who holds it, until when, and which journal entry tracks its request."""

    holder: str
    host: str
    pid: int
    campaign: str
    shot: str
    journal_key: str
    taken_at: str
    expires_at: str
    released: bool = False
    error: str | None = None

    def takeable(self) -> bool:
        """True when nobody holds it any more: released, lease over, or its process on this host is gone."""
        if self.released or datetime.fromisoformat(self.expires_at) <= datetime.now(UTC):
            return True
        return self.host == HOST and not Path(f"/proc/{self.pid}").exists()


class ClaimFailed(Exception):
    """The holder this run waited on failed (message: its error), or it held the clip past our patience."""


class Claim:
    """A held claim; ``release`` it. ``lost`` turns True if a heartbeat finds a newer generation."""

    def __init__(
        self,
        store: MediaStore,
        prefix: str,
        generation: int,
        body: ClaimBody,
        lease_seconds: float,
        previous: ClaimBody | None,
    ) -> None:
        self.store, self.prefix, self.generation = store, prefix, generation
        self.body, self.lease_seconds, self.previous = body, lease_seconds, previous
        self.lost = False
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="claim-heartbeat", daemon=True)
        self._beat.start()

    @property
    def key(self) -> str:
        return _key(self.prefix, self.generation)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                if self.store.exists(_key(self.prefix, self.generation + 1)):
                    self.lost = True
                    return
                self.body = self.body.model_copy(update={"expires_at": now_iso(timedelta(seconds=self.lease_seconds))})
                self.store.put_bytes(self.key, self.body.model_dump_json().encode())
            except Exception:  # noqa: BLE001 - a missed beat only shortens the lease; the next one retries
                continue

    def release(self, error: str | None = None) -> None:
        """Give the claim up: after success every generation up to ours is deleted; after a failure ours is kept,
        marked released with ``error`` for whoever waited on it."""
        self._stop.set()
        self._beat.join()
        if self.lost:
            return
        if error is None:
            for generation in range(self.generation, -1, -1):
                self.store.delete(_key(self.prefix, generation))
            return
        released = self.body.model_copy(update={"released": True, "error": error})
        self.store.put_bytes(self.key, released.model_dump_json().encode())


def _key(prefix: str, generation: int) -> str:
    return f"{prefix}{generation:06d}.json"


def _read(store: MediaStore, key: str) -> ClaimBody | None:
    try:
        return ClaimBody.model_validate_json(store.get_bytes(key))
    except (KeyError, ValueError, ValidationError):
        return None


def acquire(
    store: MediaStore,
    cache_key: str,
    *,
    campaign: str,
    shot: str,
    journal_key: str,
    lease_seconds: float,
    poll_seconds: float,
    patience_seconds: float,
    clip_ready: Callable[[], bool],
    check: Callable[[], None],
    log: logging.Logger,
    where: str,
) -> Claim | None:
    """Hold the claim of ``cache_key``, or None once ``clip_ready()`` (another holder made the clip).

    While someone else holds it, waits (calling ``check`` each round, so a stopped generator stops waiting);
    ``ClaimFailed`` when the holder we waited on failed, or held on past ``patience_seconds``.
    """
    prefix = f"claims/{cache_key}/"
    deadline = time.monotonic() + patience_seconds
    waited_on: str | None = None
    while True:
        check()
        if clip_ready():
            return None
        keys = store.list_keys(prefix)
        generation = int(keys[-1].rsplit("/", 1)[1].split(".")[0]) if keys else -1
        current = _read(store, keys[-1]) if keys else None
        if current is not None and current.released and current.error and current.holder == waited_on:
            raise ClaimFailed(current.error)
        if current is None or current.takeable():
            body = ClaimBody(
                holder=f"{HOST}/{os.getpid()}/{uuid.uuid4().hex[:12]}", host=HOST, pid=os.getpid(),
                campaign=campaign, shot=shot, journal_key=journal_key, taken_at=now_iso(),
                expires_at=now_iso(timedelta(seconds=lease_seconds)),
            )  # fmt: skip
            if store.create_exclusive(_key(prefix, generation + 1), body.model_dump_json().encode()):
                previous = current if current is not None and not current.released else None
                if previous is not None:
                    log.warning("%s: took over the claim of %s (lease over or process gone)", where, previous.holder)
                return Claim(store, prefix, generation + 1, body, lease_seconds, previous)
            continue  # another run created it first: look again
        if waited_on != current.holder:
            log.info(
                "%s: another run (%s, campaign %r) is making this clip; waiting for it instead of paying",
                where,
                current.holder,
                current.campaign,
            )
            waited_on = current.holder
        if time.monotonic() > deadline:
            raise ClaimFailed(
                f"another run ({current.holder}) has been making this clip for over {patience_seconds:.0f} s; "
                "nothing was submitted: re-run later"
            )
        time.sleep(poll_seconds)
