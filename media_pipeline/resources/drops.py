"""The drop zone: where teams put a campaign's images (a local folder or an S3 prefix).

``DropZone`` lists what is there and fetches files; the rules for when a drop is new, changed or settled live
once, in ``sensors.py``, and work on the listing alone, so the folder and the bucket behave the same.
``S3DropZone`` lives in ``s3/drops.py``. What is read from a drop is bounded: the manifest to
``MAX_MANIFEST_BYTES``, and a local file only if its real path stays inside the drop zone (a symlink to
``/etc/passwd`` or another team's folder is refused by name).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from abc import ABC, abstractmethod
from pathlib import Path
from typing import NamedTuple

from dagster import ConfigurableResource

from ..campaign import MANIFEST_NAME, CampaignError
from ..manifest_yaml import MAX_MANIFEST_BYTES, ManifestSyntaxError, decode_manifest


class DropRefused(CampaignError):
    """A drop file the pipeline will not read (a symlink leading out of the drop zone); the message names it."""

    def __init__(self, campaign: str, name: str, reason: str):
        super().__init__(f"campaign {campaign!r}, file {name}: {reason}")
        self.reason = reason


class DropFile(NamedTuple):
    """One file of a drop as listed: enough to notice a change without reading it."""

    name: str
    size: int
    mtime: float
    etag: str = ""


def drop_fingerprint(files: list[DropFile]) -> str:
    """A short hash of a drop's listing: any added, removed or rewritten file changes it. The sensor compares it
    with the one ``source_images`` recorded for the campaign's last complete run."""
    text = "\n".join(f"{f.name}\t{f.size}\t{f.mtime:.6f}\t{f.etag}" for f in sorted(files))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DropZone(ConfigurableResource, ABC):
    """Abstract drop zone. Campaign folders hold images and an optional ``campaign.yaml``."""

    @abstractmethod
    def list_campaigns(self) -> dict[str, list[DropFile]]:
        """Every campaign folder (valid id or not) with its files, sorted by name."""

    @abstractmethod
    def list_files(self, campaign: str) -> list[DropFile]:
        """The files of one campaign, sorted by name; empty when the campaign has no folder."""

    @abstractmethod
    def fetch(self, campaign: str, name: str, dest: Path) -> Path:
        """Copy ``<campaign>/<name>`` to the local file ``dest`` and return it."""

    @abstractmethod
    def read_bytes(self, campaign: str, name: str, limit: int | None = None) -> bytes | None:
        """At most ``limit`` bytes of ``<campaign>/<name>`` (all without a limit), or None when it is absent."""

    def read_text(self, campaign: str, name: str) -> str | None:
        """The UTF-8 text of ``<campaign>/<name>``, or None when it is absent."""
        data = self.read_bytes(campaign, name)
        return None if data is None else data.decode("utf-8")

    @abstractmethod
    def location(self, campaign: str, name: str = "") -> str:
        """Where a person finds the file (a path or an ``s3://`` URI), for messages."""

    def read_manifest(self, campaign: str) -> str | None:
        """The campaign's ``campaign.yaml`` text, or None without one; ``CampaignError`` when too large or not
        UTF-8 (one byte past the cap is read, never the whole of a huge file)."""
        data = self.read_bytes(campaign, MANIFEST_NAME, MAX_MANIFEST_BYTES + 1)
        if data is None:
            return None
        try:
            return decode_manifest(data)
        except ManifestSyntaxError as exc:
            raise CampaignError(f"campaign {campaign!r}, file {MANIFEST_NAME}: {exc}") from None


class LocalDropZone(DropZone):
    """Drops in a local folder: ``<root>/<campaign>/<files>``; hidden files and subfolders are ignored."""

    root: str

    def list_campaigns(self) -> dict[str, list[DropFile]]:
        root = Path(self.root)
        if not root.is_dir():
            return {}
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
        return {name: self.list_files(name) for name in names}

    def list_files(self, campaign: str) -> list[DropFile]:
        folder = Path(self.root) / campaign
        if not folder.is_dir():
            return []
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                stat = entry.stat()
                files.append(DropFile(entry.name, stat.st_size, stat.st_mtime))
        return sorted(files)

    def _inside(self, campaign: str, name: str) -> Path:
        """The file's path once its real path (symlinks followed) is known to stay inside the drop zone."""
        path = Path(self.root) / campaign / name
        if not path.resolve().is_relative_to(Path(self.root).resolve()):
            raise DropRefused(
                campaign,
                name,
                "a symlink leading out of the drop zone is not read; copy the file into the drop instead",
            )
        return path

    def fetch(self, campaign: str, name: str, dest: Path) -> Path:
        shutil.copyfile(self._inside(campaign, name), dest)
        return dest

    def read_bytes(self, campaign: str, name: str, limit: int | None = None) -> bytes | None:
        path = Path(self.root) / campaign / name
        if not path.is_file():
            return None
        with self._inside(campaign, name).open("rb") as file:
            return file.read(-1 if limit is None else limit)

    def location(self, campaign: str, name: str = "") -> str:
        return os.path.abspath(Path(self.root) / campaign / name)  # not resolved: a symlink is named as dropped
