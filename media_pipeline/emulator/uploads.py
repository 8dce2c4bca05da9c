"""The emulated ``xai_api.Files`` service (``client.files``), and where a video request's images come from.

``FilesService`` takes ``UploadFile`` streams (an init chunk with the name, then data chunks), keeps each file for the
API key that uploaded it (or for every key when the SDK sent none: ``KEYLESS``), and answers ``RetrieveFile``,
``ListFiles`` and ``DeleteFile`` (the SDK's check, listing and deletion); another key's or a deleted file is
NOT_FOUND, as a lapsed file would be. ``ImageInputs`` resolves a request's ``ImageUrlContent`` for one caller: a file
id to its upload (the caller's own, decodable), a data: or loopback http URL by fetching it; each counted at
``/_stats`` under ``image_input`` (``file_id``, ``data_url``, ``url``), so a test can show that a campaign sent no
URL at all.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from google.protobuf import timestamp_pb2
from xai_sdk.proto import files_pb2, files_pb2_grpc, image_pb2

from .config import EmulatorConfig
from .intake import Rejected, caller_key, check_image, fetch_image
from .stats import CallCounter

T = TypeVar("T")
MAX_FILE_BYTES = 64 << 20
# SDK 1.21 on an insecure channel (the emulator's) authenticates unary calls only, so UploadFile, a stream, arrives
# without a key; such an upload belongs to every key (over TLS the real API sees the key on every call)
KEYLESS = ""


@dataclass(frozen=True)
class Upload:
    """One uploaded file."""

    file_id: str
    key: str  # the uploader's key hash
    filename: str
    path: Path
    size: int
    created: float

    def proto(self) -> files_pb2.File:
        created = timestamp_pb2.Timestamp()
        created.FromSeconds(int(self.created))
        return files_pb2.File(id=self.file_id, filename=self.filename, size=self.size, created_at=created)


class FileBook:
    """Every upload, by id; thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def add(self, key: str, filename: str, chunks: Iterator[bytes]) -> Upload:
        """Store the uploaded bytes (content-addressed on disk) under a new file id."""
        digest, data = hashlib.sha256(), bytearray()
        for chunk in chunks:
            data.extend(chunk)
            if len(data) > MAX_FILE_BYTES:
                raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"file larger than {MAX_FILE_BYTES} bytes")
            digest.update(chunk)
        path = self.folder / digest.hexdigest()
        if not path.exists():
            tmp = path.with_suffix(f".{uuid.uuid4().hex}.part")
            tmp.write_bytes(bytes(data))
            tmp.replace(path)
        upload = Upload(f"file-{uuid.uuid4().hex}", key, filename, path, len(data), time.time())
        with self._lock:
            self._files[upload.file_id] = upload
        return upload

    def get(self, key: str, file_id: str) -> Upload:
        """The caller's file ``file_id``; NOT_FOUND when there is none (never uploaded, deleted, another key's)."""
        with self._lock:
            upload = self._files.get(file_id)
        if upload is None or upload.key not in (key, KEYLESS):
            raise Rejected(grpc.StatusCode.NOT_FOUND, f"no file {file_id!r}")
        return upload

    def delete(self, key: str, file_id: str) -> None:
        """Forget the caller's file ``file_id`` (NOT_FOUND when it has none)."""
        self.get(key, file_id)
        with self._lock:
            del self._files[file_id]

    def of(self, key: str) -> list[Upload]:
        """The caller's files, oldest first."""
        with self._lock:
            return sorted((u for u in self._files.values() if u.key in (key, KEYLESS)), key=lambda u: u.created)


@dataclass(frozen=True)
class ImageInputs:
    """Where one caller's request images come from: its own uploads, or URLs fetched; each counted."""

    files: FileBook
    counter: CallCounter
    image_dir: Path
    limit: int
    key: str
    fetch_urls: bool = True  # False: an http(s) URL is refused as unreachable, like a private store's

    @classmethod
    def of(
        cls, config: EmulatorConfig, files: FileBook, counter: CallCounter, image_dir: Path, key: str
    ) -> ImageInputs:
        """The inputs of caller ``key`` under ``config`` (its image size limit, whether URLs can be reached)."""
        return cls(files, counter, image_dir, config.max_image_bytes, key, config.fetch_urls)

    def path(self, image: image_pb2.ImageUrlContent, what: str) -> Path:
        """The image on disk; INVALID_ARGUMENT when it cannot be had or decoded, NOT_FOUND for an unknown file."""
        if image.file_id:
            self.counter.add("image_input", "file_id")
            upload = self.files.get(self.key, image.file_id)
            if upload.size > self.limit:
                raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: image larger than {self.limit} bytes")
            check_image(upload.path.read_bytes(), what)
            return upload.path
        if not image.image_url:
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: set image_url or file_id")
        data_url = image.image_url.startswith("data:")
        self.counter.add("image_input", "data_url" if data_url else "url")
        if not (data_url or self.fetch_urls):
            raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: could not fetch image URL (unreachable)")
        return fetch_image(image.image_url, what, self.limit, self.image_dir)


class FilesService(files_pb2_grpc.FilesServicer):
    """The servicer over one ``FileBook``; every call counted by method and outcome."""

    def __init__(self, book: FileBook, counter: CallCounter, require_key: Callable[[], str | None]) -> None:
        self.book, self.counter, self._require_key = book, counter, require_key

    def UploadFile(self, request_iterator: Iterator[files_pb2.UploadFileChunk], context: grpc.ServicerContext):  # noqa: N802
        def upload(key: str) -> files_pb2.File:
            first = next(request_iterator, None)
            if first is None or not first.HasField("init"):
                raise Rejected(grpc.StatusCode.INVALID_ARGUMENT, "the first chunk must be init (name)")
            chunks = (c.data for c in request_iterator)
            return self.book.add(key, first.init.name or "upload", chunks).proto()

        if "authorization" not in dict(context.invocation_metadata()):  # see KEYLESS
            return self._serve("UploadFile", context, lambda _key: upload(KEYLESS))
        return self._serve("UploadFile", context, upload)

    def RetrieveFile(self, request: files_pb2.RetrieveFileRequest, context: grpc.ServicerContext):  # noqa: N802
        return self._serve("RetrieveFile", context, lambda key: self.book.get(key, request.file_id).proto())

    def DeleteFile(self, request: files_pb2.DeleteFileRequest, context: grpc.ServicerContext):  # noqa: N802
        def delete(key: str) -> files_pb2.DeleteFileResponse:
            self.book.delete(key, request.file_id)
            return files_pb2.DeleteFileResponse(id=request.file_id, deleted=True)

        return self._serve("DeleteFile", context, delete)

    def ListFiles(self, request: files_pb2.ListFilesRequest, context: grpc.ServicerContext):  # noqa: N802
        def list_files(key: str) -> files_pb2.ListFilesResponse:
            return files_pb2.ListFilesResponse(data=[u.proto() for u in self.book.of(key)])

        return self._serve("ListFiles", context, list_files)

    def _serve(self, method: str, context: grpc.ServicerContext, handler: Callable[[str], T]) -> T:
        try:
            reply = handler(caller_key(context, self._require_key()))
        except Rejected as rejected:
            self.counter.add(method, rejected.code.name)
            context.abort(rejected.code, str(rejected))
        self.counter.add(method, "OK")
        return reply
