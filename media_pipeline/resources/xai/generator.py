"""``XaiVideoGenerator``: one shot's clip from xAI's image-to-video API through the official ``xai_sdk``.

Exactly one payment per clip: before anything is submitted the generator takes the clip's claim in the store
(``claims.py``), so a second thread, process or machine waits for the first's clip instead of paying for its own;
under the claim ``shot.ShotRun`` resumes whatever the request journal holds and books every submit in the spend
ledger. We call ``client.video.start`` and ``client.video.get`` ourselves (``calls.py``, not ``generate``) so that
we own polling (``polling.py``). Each call first waits for the model's request budget (``budget.py`` over
``pacing.py``); around it (``calls.call``): exponential back-off with full jitter on RESOURCE_EXHAUSTED /
UNAVAILABLE / DEADLINE_EXCEEDED; the API's per-request failures (FAILED with its code and message, moderation
included) become ``ShotFailed`` carrying what was spent; a refused key stops every thread (``GeneratorStopped``).
The generator owns what its threads share: the client, the catalog, the budgets and the xAI file ids of
``hosting: xai_files`` (``files.py``). The API key never appears in a message, log line or file.
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from dagster import InitResourceContext
from pydantic import Field, PrivateAttr
from xai_sdk import Client

from ..claims import ClaimFailed, acquire
from ..generator import ClipOutcome, ClipRequest, GeneratorStopped, ShotFailed, VideoGenerator
from ..store import MediaStore
from . import calls
from .budget import Budgets
from .calls import Tally
from .catalog import MAX_IMAGE_BYTES, MAX_PROMPT_CHARS, ModelCatalog, catalog_from_env
from .files import XaiFiles, owner_of
from .pacing import MARGIN_MS, pacing_url
from .shot import ShotRun

T = TypeVar("T")

MIB = 1 << 20


class XaiVideoGenerator(VideoGenerator):
    """Generates clips with xAI (``grok-imagine-video``), journaled, retried, costed; thread-safe."""

    api_key: str = Field(repr=False)
    api_host: str = "api.x.ai"
    use_insecure_channel: bool = False
    max_concurrent: int = 8
    poll_interval_seconds: float = 2.0
    timeout_seconds: float = 900
    rpc_timeout_seconds: float = 60
    max_retries: int = 6
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30
    download_attempts: int = Field(default=4, ge=1)
    max_download_bytes: int = 512 * MIB
    max_image_bytes: int = MAX_IMAGE_BYTES
    max_prompt_chars: int = MAX_PROMPT_CHARS
    claim_lease_seconds: float = Field(
        default=120, gt=0, description="How long a clip's claim outlives its holder's last heartbeat."
    )
    rps: float | None = Field(
        default=None, gt=0, description="Requests per second per model (MEDIA_PIPELINE_XAI_RPS); None: the catalog's."
    )
    pace_polls: bool = Field(default=True, description="Polls spend the model's request budget too.")
    pacing_url: str = Field(
        default="", description="Where the shared budgets live (sqlite:///path, postgresql://...); '': the instance's."
    )
    pacing_margin_ms: int = Field(default=MARGIN_MS, ge=0, description="Added to the API's rate window, for transit.")
    first_poll_seconds: float | None = Field(
        default=None, ge=0, description="Seconds before a clip's first poll; None: learnt (PollSchedule)."
    )

    _client: Client | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _stopped: str | None = PrivateAttr(default=None)
    _budgets: Budgets | None = PrivateAttr(default=None)
    _instance_pacing_url: str = PrivateAttr(default="")
    _catalog: ModelCatalog | None = PrivateAttr(default=None)
    _files: XaiFiles | None = PrivateAttr(default=None)

    @property
    def kind(self) -> str:
        return "xai"

    @property
    def concurrency(self) -> int:
        return self.max_concurrent

    def estimate_usd(self, request: ClipRequest) -> float:
        """The catalog's price of the request's model (``MEDIA_PIPELINE_XAI_MODELS`` applied)."""
        spec = self.catalog().get(request.model)
        return spec.price_usd(
            duration=request.duration, resolution=request.resolution, input_images=request.input_images
        )

    # -- lifecycle ------------------------------------------------------------------------------------------

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Keep the budgets beside the run's instance (its PostgreSQL, or a SQLite file in its folder)."""
        if context.instance is not None:
            self._instance_pacing_url = pacing_url(os.environ, context.instance)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Close the gRPC channel."""
        self.close()

    def close(self) -> None:
        """Close the client's channel and the pacing backend (a later call opens new ones)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._budgets is not None:
                self._budgets.close()

    def client(self) -> Client:
        """The one client (and gRPC channel) all threads share, built on first use: an unused resource is free."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = Client(
                        api_key=self.api_key,
                        api_host=self.api_host,
                        use_insecure_channel=self.use_insecure_channel,
                        timeout=self.rpc_timeout_seconds,
                        # our back-off is the one retry layer: every attempt is seen, counted and capped
                        channel_options=[("grpc.enable_retries", 0)],
                    )
                except ValueError as exc:  # only "no key" / "empty key"; the message holds no key
                    raise GeneratorStopped(f"cannot create the xAI client: {exc} (set XAI_API_KEY)") from None
                calls.connect(self._client, timeout=min(2.0, self.rpc_timeout_seconds))
            return self._client

    # -- the shot -------------------------------------------------------------------------------------------

    def generate(self, request: ClipRequest, store: MediaStore, log: logging.Logger) -> ClipOutcome:
        """Claim the clip, then resume or make its request (``xai_shot.ShotRun``); release the claim after.

        A clip another run is making is waited for, not paid for again: it comes back ``cached``.
        """
        self.check_running()
        self._validate(request)
        shot = ShotRun(self, request, store, log)
        try:
            claim = acquire(
                store, request.cache_key, campaign=request.campaign, shot=request.shot, journal_key=shot.key,
                lease_seconds=self.claim_lease_seconds, poll_seconds=self.poll_interval_seconds,
                patience_seconds=self.timeout_seconds, clip_ready=lambda: store.exists(request.clip_key),
                check=self.check_running, log=log, where=request.where,
            )  # fmt: skip
        except ClaimFailed as exc:
            raise shot.failed(f"{request.where}: {exc} (reported by the run that holds this clip)") from None
        if claim is None:
            log.info("%s: another run made this clip; nothing was submitted", request.where)
            return shot.outcome("cached")
        error: str | None = "stopped"
        try:
            if store.exists(request.clip_key):  # made between our look and our claim
                outcome = shot.outcome("cached")
            else:
                outcome = shot.run(claim)
            error = None
            return outcome
        except ShotFailed as exc:
            error = str(exc).removeprefix(f"{request.where}: ")
            raise shot.failed(str(exc)) from None  # with what this shot spent
        finally:
            try:
                claim.release(error)
            except Exception as exc:  # noqa: BLE001 - the claim lapses with its lease; the outcome stands
                log.warning("%s: could not release the claim (%s); it lapses in %.0f s", request.where, exc,
                            self.claim_lease_seconds)  # fmt: skip

    # -- the catalog, the budgets and the files -------------------------------------------------------------

    def catalog(self) -> ModelCatalog:
        """The model catalog (``MEDIA_PIPELINE_XAI_MODELS`` applied), read once."""
        if self._catalog is None:
            self._catalog = catalog_from_env(os.environ)
        return self._catalog

    def budgets(self) -> Budgets:
        """The models' request budgets and poll schedules (``budget.py``), shared by this process's threads."""
        with self._lock:
            if self._budgets is None:
                self._budgets = Budgets(
                    self.api_host, self.api_key, self.catalog, rps=self.rps, pace_polls=self.pace_polls,
                    url=self.pacing_url or self._instance_pacing_url, margin_ms=self.pacing_margin_ms,
                    poll_interval_seconds=self.poll_interval_seconds, first_poll_seconds=self.first_poll_seconds,
                )  # fmt: skip
            return self._budgets

    def file_ids(self, request: ClipRequest, store: MediaStore, tally: Tally, log: logging.Logger) -> dict[str, str]:
        """The xAI file id of every image of ``request`` (``hosting: xai_files``), uploading what xAI lacks."""
        with self._lock:
            files = self._files = self._files or XaiFiles(owner_of(self.api_host, self.api_key))
        return files.ids(self, request, store, tally, log)

    def forget_files(self, file_ids: Iterable[str]) -> None:
        """Check these xAI file ids again before their next use (a request named one xAI no longer knows)."""
        if self._files is not None:
            self._files.forget(file_ids)

    def call(self, where: str, tally: Tally, method: str, fn: Callable[[], T], **options: Any) -> T:
        """One API call, paced, with back-off and our error mapping (``calls.call``)."""
        return calls.call(self, where, tally, method, fn, **options)

    # -- helpers --------------------------------------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**attempt))."""
        return random.uniform(0.0, min(self.backoff_cap_seconds, self.backoff_base_seconds * 2**attempt))

    def check_running(self) -> None:
        if self._stopped is not None:
            raise GeneratorStopped(self._stopped)

    def stop(self, code: str) -> str:
        """Stop every thread: later calls raise ``GeneratorStopped`` without calling the API."""
        with self._lock:
            if self._stopped is None:
                self._stopped = (
                    f"the xAI API refused the credentials ({code}) at {self.api_host}: check that "
                    "XAI_API_KEY is valid and allowed to generate video; no further requests are made"
                )
            return self._stopped

    def _validate(self, request: ClipRequest) -> None:
        """Reject what the API would reject, before paying anything: ``ShotFailed`` naming the shot."""
        problems = calls.request_problems(
            request, self.catalog(), max_prompt_chars=self.max_prompt_chars, max_image_bytes=self.max_image_bytes
        )
        if problems:
            raise ShotFailed(f"{request.where}: " + "; ".join(problems))
