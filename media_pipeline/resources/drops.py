"""The drop zone: where teams put a campaign's images (a local folder or an S3 prefix).

``DropZone`` lists what is there and fetches files; the rules for when a drop is new, changed or settled live
once, in ``sensors.py``, and work on the listing alone, so the folder and the bucket behave the same.
``S3DropZone`` lives in ``s3/drops.py``. A backend lists and reads folders; the campaign methods of ``DropZone``
also make each row of a catalog drop a campaign of its own (``catalog_drops.py``): ``campaign.yaml`` rendered from
the template, and the row's images, so every later stage reads a row's campaign as it reads a folder. What is read
from a drop is bounded: the manifest to ``MAX_MANIFEST_BYTES``, a catalog and a row's URL image to their caps in
``catalog_feed.py`` and ``catalog_drops.py``, and a local file only if its real path stays inside the drop zone (a
symlink to ``/etc/passwd`` or another team's folder is refused by name).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from dagster import ConfigurableResource

from ..campaign import MANIFEST_NAME, CampaignError
from ..catalog_feed import CatalogProblem, catalog_name
from ..manifest_yaml import MAX_MANIFEST_BYTES, ManifestSyntaxError, decode_manifest
from .catalog_drops import DropListing, SkuDrop, download_image, drop_listing, read_catalog, row_files
from .drop_files import DropFile, drop_fingerprint
from .http import describe_url

__all__ = ["DropFile", "DropListing", "DropRefused", "DropZone", "LocalDropZone", "drop_fingerprint"]


class DropRefused(CampaignError):
    """A drop file the pipeline will not read (a symlink leading out of the drop zone); the message names it."""

    def __init__(self, campaign: str, name: str, reason: str):
        super().__init__(f"campaign {campaign!r}, file {name}: {reason}")
        self.reason = reason


class DropZone(ConfigurableResource, ABC):
    """Abstract drop zone. Campaign folders hold images and an optional ``campaign.yaml``; a catalog drop's folder
    holds ``catalog.csv`` (or ``.jsonl``), a template ``campaign.yaml`` and images, and each of its rows is a campaign
    (``catalog_feed.py``). Backends list and read folders; the campaign methods here resolve both kinds."""

    @abstractmethod
    def list_folders(self) -> dict[str, list[DropFile]]:
        """Every drop folder (valid id or not) with its files, sorted by name."""

    @abstractmethod
    def list_folder(self, folder: str) -> list[DropFile]:
        """The files of one folder, sorted by name; empty when there is no such folder."""

    @abstractmethod
    def fetch_file(self, folder: str, name: str, dest: Path) -> Path:
        """Copy ``<folder>/<name>`` to the local file ``dest`` and return it."""

    @abstractmethod
    def read_file(self, folder: str, name: str, limit: int | None = None) -> bytes | None:
        """At most ``limit`` bytes of ``<folder>/<name>`` (all without a limit), or None when it is absent."""

    @abstractmethod
    def file_location(self, folder: str, name: str = "") -> str:
        """Where a person finds the file (a path or an ``s3://`` URI), for messages."""

    def list_drops(self) -> DropListing:
        """Every campaign from one listing of the drop zone: folders, and catalog rows (``catalog_drops.py``)."""
        return drop_listing(self.list_folders(), self.read_file)

    def list_campaigns(self) -> dict[str, list[DropFile]]:
        """Every campaign (valid id or not) with the files its run reads, sorted by name."""
        return self.list_drops().campaigns

    def sku_drop(self, campaign: str) -> SkuDrop | None:
        """The catalog row behind ``campaign``, or None for a campaign folder or an unknown campaign. Among catalog
        drops, the shortest name that has the row wins, as in ``list_drops`` (which reports the clash)."""
        files = self.list_folder(campaign)
        if files and not catalog_name({f.name for f in files}):
            return None
        for cut in (i for i, char in enumerate(campaign) if char == "-"):
            drop = campaign[:cut]
            files = self.list_folder(drop)
            try:
                catalog = read_catalog(self.read_file, drop, files)
            except CatalogProblem as exc:
                raise CampaignError(f"campaign {campaign!r}: {exc}") from None
            if catalog is not None and campaign in catalog.rows:
                return SkuDrop(drop, files, catalog, catalog.rows[campaign])
        return None

    def list_files(self, campaign: str) -> list[DropFile]:
        """The files a campaign's run reads, sorted by name; empty when nothing was dropped for it."""
        sku = self.sku_drop(campaign)
        if sku is not None:
            return row_files(sku.catalog, sku.row, {f.name: f for f in sku.files})
        files = self.list_folder(campaign)
        return [] if catalog_name({f.name for f in files}) else files

    def fetch(self, campaign: str, name: str, dest: Path) -> Path:
        """Copy a campaign's file to the local file ``dest``; a catalog row's URL image is downloaded with the
        rules of result downloads (https only, a size cap, an image content type)."""
        sku = self.sku_drop(campaign)
        if sku is None:
            return self.fetch_file(campaign, name, dest)
        image = next((i for i in sku.row.images if i.name == name), None)
        if image is None:
            raise FileNotFoundError(f"campaign {campaign!r} has no file {name}")
        if image.file:
            return self.fetch_file(sku.drop, image.file, dest)
        return download_image(image, dest, campaign, self.location(campaign, name))

    def read_bytes(self, campaign: str, name: str, limit: int | None = None) -> bytes | None:
        """At most ``limit`` bytes of a campaign's file (all without a limit), or None when it has no such file."""
        sku = self.sku_drop(campaign)
        if sku is None:
            return self.read_file(campaign, name, limit)
        image = next((i for i in sku.row.images if i.name == name), None)
        if name == MANIFEST_NAME and sku.row.error is None:
            data = sku.catalog.manifest(sku.row).encode()
        elif image is not None and image.file:
            return self.read_file(sku.drop, image.file, limit)
        elif image is not None:
            with tempfile.TemporaryDirectory(prefix="drop-") as tmp:
                data = self.fetch(campaign, name, Path(tmp) / name).read_bytes()
        else:
            return None
        return data if limit is None else data[:limit]

    def read_text(self, campaign: str, name: str) -> str | None:
        """The UTF-8 text of a campaign's file, or None when it has no such file."""
        data = self.read_bytes(campaign, name)
        return None if data is None else data.decode("utf-8")

    def read_manifest(self, campaign: str) -> str | None:
        """The campaign's ``campaign.yaml`` text (a catalog row's: the template rendered with the row), or None
        without one; ``CampaignError`` when too large, not UTF-8 or the row is refused (with its row and column)."""
        sku = self.sku_drop(campaign)
        if sku is not None:
            if sku.row.error:
                raise CampaignError(f"campaign {campaign!r}: {sku.row.error}")
            return sku.catalog.manifest(sku.row)
        data = self.read_file(campaign, MANIFEST_NAME, MAX_MANIFEST_BYTES + 1)
        if data is None:
            return None
        try:
            return decode_manifest(data)
        except ManifestSyntaxError as exc:
            raise CampaignError(f"campaign {campaign!r}, file {MANIFEST_NAME}: {exc}") from None

    def location(self, campaign: str, name: str = "") -> str:
        """Where a person finds a campaign's file, for messages: a path or ``s3://`` URI, and for a catalog row's
        file its catalog, row and column."""
        try:
            sku = self.sku_drop(campaign)
        except CampaignError:
            sku = None
        if sku is None:
            return self.file_location(campaign, name)
        image = next((i for i in sku.row.images if i.name == name), None)
        where = f"{self.file_location(sku.drop, sku.catalog.name)}, row {sku.row.number}"
        if image is None:
            return where
        source = image.file or describe_url(image.url or "")
        return f"{where}, column {image.column!r} ({source})"


class LocalDropZone(DropZone):
    """Drops in a local folder: ``<root>/<campaign>/<files>``; hidden files and subfolders are ignored."""

    root: str

    def list_folders(self) -> dict[str, list[DropFile]]:
        root = Path(self.root)
        if not root.is_dir():
            return {}
        with os.scandir(root) as entries:
            names = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
        return {name: self.list_folder(name) for name in names}

    def list_folder(self, folder: str) -> list[DropFile]:
        path = Path(self.root) / folder
        if not path.is_dir():
            return []
        files = []
        with os.scandir(path) as entries:
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

    def fetch_file(self, folder: str, name: str, dest: Path) -> Path:
        shutil.copyfile(self._inside(folder, name), dest)
        return dest

    def read_file(self, folder: str, name: str, limit: int | None = None) -> bytes | None:
        path = Path(self.root) / folder / name
        if not path.is_file():
            return None
        with self._inside(folder, name).open("rb") as file:
            return file.read(-1 if limit is None else limit)

    def file_location(self, folder: str, name: str = "") -> str:
        return os.path.abspath(Path(self.root) / folder / name)  # not resolved: a symlink is named as dropped
