"""``XaiEmulator``: the emulated xAI video API (gRPC ``Video``, ``BatchMgmt``, ``Files``) plus its result-file server,
both on 127.0.0.1.

The real ``xai_sdk.Client`` talks to it with ``api_host=emulator.api_host, use_insecure_channel=True``.
``main(argv)`` is the ``media-pipeline xai-emulator`` command.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import sys
import tempfile
import threading
from concurrent import futures
from pathlib import Path
from types import TracebackType

import grpc
from xai_sdk.proto import batch_pb2_grpc, files_pb2_grpc, video_pb2_grpc

from ..resources.xai.catalog import MAX_MESSAGE_BYTES
from .batch import BatchService
from .faults import Faults
from .files import FileServer
from .jobs import JobBook
from .options import build_parser, config_from_args
from .renders import RenderPool
from .service import EmulatorConfig, VideoService
from .stats import CallCounter, Paid, PaidLog, stats_json
from .uploads import FileBook, FilesService

GRPC_WORKERS = 64


class XaiEmulator:
    """Start with ``start()`` (or ``with``), stop with ``stop()``; counters in ``calls``."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        port: int = 0,
        http_port: int = 0,
        render_cache_dir: Path | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._port = port
        self._http_port = http_port
        self._render_cache_dir = render_cache_dir
        self._workdir: Path | None = None
        self._grpc: grpc.Server | None = None
        self._files: FileServer | None = None
        self._renders: RenderPool | None = None
        self.service: VideoService | None = None
        self.jobs: JobBook | None = None
        self.batches: BatchService | None = None
        self.files: FileBook | None = None  # uploads of the Files service
        self.counter = CallCounter()
        self.paid = PaidLog()
        self.grpc_port = 0

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> XaiEmulator:
        """Bind both servers on free (or the given) loopback ports and serve in background threads."""
        try:
            self._workdir = Path(tempfile.mkdtemp(prefix="xai-emulator-"))
            images = self._workdir / "images"
            images.mkdir()
            cache = self._render_cache_dir or self._workdir / "renders"
            self._renders = RenderPool(cache, self.config.render_concurrency, self.config.fps)
            self.counter, self.paid = CallCounter(), PaidLog()
            self.jobs = JobBook(self.config, self._renders, self.paid, lambda: self.http_base)
            self.files = FileBook(self._workdir / "files")
            self.files.folder.mkdir()
            self.service = VideoService(self.config, self.jobs, images, self.counter, self.files)
            self._files = FileServer(
                self.jobs.download,
                lambda: self.service.fault_state,
                self.counter,
                lambda: stats_json(self.counter, self.paid),
                self._http_port,
                self.config.url_expired_status,
            )
            self._grpc = grpc.server(
                futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS, thread_name_prefix="xai-emulator-grpc"),
                options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
            )
            video_pb2_grpc.add_VideoServicer_to_server(self.service, self._grpc)
            self.batches = BatchService(
                self.config, self.jobs, images, self.counter, lambda: self.service.fault_state, self.files
            )
            batch_pb2_grpc.add_BatchMgmtServicer_to_server(self.batches, self._grpc)
            uploads = FilesService(self.files, self.counter, lambda: self.config.require_key)
            files_pb2_grpc.add_FilesServicer_to_server(uploads, self._grpc)
            self.grpc_port = self._grpc.add_insecure_port(f"127.0.0.1:{self._port}")  # raises when taken
            self._grpc.start()
            self._files.start()
        except BaseException:  # a port already taken: leave no socket, thread or folder behind
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and the renders; remove the work folder (not a caller's render cache)."""
        if self._grpc is not None:
            self._grpc.stop(grace=0.5).wait()
            self._grpc = None
        if self._files is not None:
            self._files.stop()
            self._files = None
        if self._renders is not None:
            self._renders.close()
            self._renders = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> XaiEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------------------

    @property
    def grpc_target(self) -> str:
        """``127.0.0.1:<port>`` of the gRPC server."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def api_host(self) -> str:
        """What to pass as ``xai_sdk.Client(api_host=...)`` (with ``use_insecure_channel=True``)."""
        return self.grpc_target

    @property
    def http_base(self) -> str:
        """``http://127.0.0.1:<port>`` of the result-file server."""
        assert self._files is not None, "emulator not started"
        return self._files.base_url

    # -- counters and faults --------------------------------------------------------------------------------

    @property
    def calls(self) -> dict[tuple[str, str], int]:
        """Calls so far by ``(method, outcome)``: ``GenerateVideo``, ``GetDeferredVideo``, ``download``."""
        return self.counter.snapshot()

    def count(self, method: str, outcome: str | None = None) -> int:
        """Calls of ``method`` (with ``outcome``, when given)."""
        return self.counter.total(method, outcome)

    @property
    def paid_requests(self) -> list[Paid]:
        """Every request accepted (and billed, unless it never rendered), a lost reply's included."""
        return self.paid.entries()

    @property
    def stats(self) -> dict[str, object]:
        """The ``/_stats`` document."""
        return stats_json(self.counter, self.paid)

    def reset_counts(self) -> None:
        """Zero the counters and the paid log."""
        self.counter.reset()
        self.paid.reset()

    def set_faults(self, faults: Faults | None = None, **changes: object) -> None:
        """Replace the faults (``Faults`` or field changes on the current ones); "first N" counts restart."""
        base = faults or self._service().fault_state.faults
        self._service().set_faults(dataclasses.replace(base, **changes))

    @property
    def renders(self) -> int:
        """How many clips were actually encoded (cache misses)."""
        return self._renders.renders if self._renders else 0

    def _service(self) -> VideoService:
        assert self.service is not None, "emulator not started"
        return self.service


def main(argv: list[str] | None = None) -> int:
    """Serve the emulator until SIGINT/SIGTERM; prints one JSON line with the addresses when ready."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"xai-emulator: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with XaiEmulator(config, port=args.port, http_port=args.http_port, render_cache_dir=args.render_cache) as emu:
        ready = {"grpc": emu.grpc_target, "http": emu.http_base, "stats": f"{emu.http_base}/_stats"}
        print(json.dumps(ready), flush=True)
        key_rule = "XAI_API_KEY must match --require-key" if args.require_key else "any non-empty XAI_API_KEY"
        print(
            f"xAI emulator ready: export XAI_API_HOST={emu.api_host} XAI_USE_INSECURE_CHANNEL=1 "
            f"({key_rule}); Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
