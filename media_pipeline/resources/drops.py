"""The drop zone: where teams put a campaign's images (a local folder or an S3 prefix).

``DropZone`` lists what is there and fetches files; the rules for when a drop is new, changed or settled live
once, in ``sensors.py``, and work on the listing alone, so the folder and the bucket behave the same.
``S3DropZone`` lives in ``s3_drops.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple

from dagster import ConfigurableResource

from ..campaign import MANIFEST_NAME


class DropFile(NamedTuple):
    """One file of a drop as listed: enough to notice a change without reading it."""

    name: str
    size: int
    mtime: float
    etag: str = ""


class DropZone(ConfigurableResource):
    """Abstract drop zone. Campaign folders hold images and an optional ``campaign.yaml``."""

    def list_campaigns(self) -> dict[str, list[DropFile]]:
        """Every campaign folder (valid id or not) with its files, sorted by name."""
        raise NotImplementedError

    def list_files(self, campaign: str) -> list[DropFile]:
        """The files of one campaign, sorted by name; empty when the campaign has no folder."""
        raise NotImplementedError

    def fetch(self, campaign: str, name: str, dest: Path) -> Path:
        """Copy ``<campaign>/<name>`` to the local file ``dest`` and return it."""
        raise NotImplementedError

    def read_text(self, campaign: str, name: str) -> str | None:
        """The text of ``<campaign>/<name>``, or None when it is absent."""
        raise NotImplementedError

    def location(self, campaign: str, name: str = "") -> str:
        """Where a person finds the file (a path or an ``s3://`` URI), for messages."""
        raise NotImplementedError

    def read_manifest(self, campaign: str) -> str | None:
        """The campaign's ``campaign.yaml`` text, or None without one."""
        return self.read_text(campaign, MANIFEST_NAME)


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

    def fetch(self, campaign: str, name: str, dest: Path) -> Path:
        shutil.copyfile(Path(self.root) / campaign / name, dest)
        return dest

    def read_text(self, campaign: str, name: str) -> str | None:
        path = Path(self.root) / campaign / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def location(self, campaign: str, name: str = "") -> str:
        return str((Path(self.root) / campaign / name).resolve())
