"""The emulator's result URLs: a loopback HTTP server for finished clips, with download faults.

``GET /videos/<request_id>.mp4`` streams the clip of a finished request — or answers 404 (unknown, not done),
``expired_status`` (the URL's lifetime is over), ``gone_status`` (a result gone for good), 500, a truncated
body or a body that is not a video, as the faults say. ``GET /_stats`` returns what the emulator saw as JSON,
so a benchmark running it in another process can read it.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .faults import FaultState
from .jobs import Download
from .stats import CallCounter

Resolver = Callable[[str], Download]
NOT_A_VIDEO = b"<html><body><h1>502 Bad Gateway</h1>upstream error (injected)</body></html>\n"


class FileServer:
    """Serves finished clips on 127.0.0.1; ``resolve(request_id)`` says what a download of a request gets."""

    def __init__(
        self,
        resolve: Resolver,
        faults: Callable[[], FaultState],
        counter: CallCounter,
        stats: Callable[[], dict[str, object]],
        port: int = 0,
        expired_status: int = 403,
    ) -> None:
        self._expired_status = expired_status
        self._resolve = resolve
        self._faults = faults
        self._counter = counter
        self._stats = stats
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="xai-emulator-files", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:  # shutdown() waits for serve_forever, which never ran otherwise
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                """Silent: the counters are the record."""

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                server._get(self)

        return Handler

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        if path == "/_stats":
            self._send(handler, 200, json.dumps(self._stats()).encode(), "application/json")
            return
        name = path.removeprefix("/videos/")
        found = self._resolve(name.removesuffix(".mp4")) if name != path and name.endswith(".mp4") else None
        faults = self._faults()
        if found is not None and found.state == "gone":
            status = faults.faults.gone_status
            self._counter.add("download", str(status))
            self._send(handler, status, b"gone (injected)\n", "text/plain")
            return
        if found is not None and found.state == "expired":
            self._counter.add("download", "expired")
            self._send(handler, self._expired_status, b"Request has expired\n", "text/plain")
            return
        clip = found.clip if found is not None else None
        if found is None or clip is None or not clip.is_file():
            self._counter.add("download", "404")
            self._send(handler, 404, b"not found\n", "text/plain")
            return
        if faults.download_fails():
            self._counter.add("download", "500")
            self._send(handler, 500, b"internal error (injected)\n", "text/plain")
            return
        if found.not_video or faults.not_video():
            self._counter.add("download", "not_video")
            self._send(handler, 200, NOT_A_VIDEO, "video/mp4")
            return
        size = clip.stat().st_size
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp4")
        handler.send_header("Content-Length", str(size))
        if faults.truncates():
            self._counter.add("download", "truncated")
            handler.send_header("Connection", "close")
            handler.end_headers()
            with open(clip, "rb") as src:
                handler.wfile.write(src.read(size // 2))
            handler.close_connection = True
            return
        self._counter.add("download", "200")  # before the body: a client that has read it sees it counted
        handler.end_headers()
        with open(clip, "rb") as src:
            shutil.copyfileobj(src, handler.wfile)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
