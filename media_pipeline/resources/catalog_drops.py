"""A catalog drop seen as campaigns: what the drop zones list and fetch for each row of a catalog.

``catalog_feed.py`` parses a catalog and renders each row's manifest; this module turns that into what the ports
hand out. A row's campaign lists a ``campaign.yaml`` (its rendered template, or its error) and its images, so its
fingerprint changes when, and only when, what the row makes changes; a row's URL image is downloaded with the rules
of result downloads. ``DropZone`` (``drops.py``) uses these for the folder and the S3 drop zone alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from ..campaign import MANIFEST_NAME, CampaignError, is_campaign_id
from ..catalog_feed import (
    MAX_CATALOG_BYTES,
    Catalog,
    CatalogImage,
    CatalogProblem,
    CatalogRow,
    catalog_name,
    parse_catalog,
)
from ..manifest_yaml import MAX_MANIFEST_BYTES
from .drop_files import DropFile
from .http import DownloadError, RetryableDownloadError, check_url, download_to_store
from .store import LocalMediaStore

MAX_CATALOG_IMAGE_BYTES = 50 << 20
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp")
ReadFile = Callable[[str, str, int], "bytes | None"]
"""A drop zone's ``read_file(folder, name, limit)``."""


class DropListing(NamedTuple):
    """One listing of the drop zone as campaigns: folders and catalog rows alike."""

    campaigns: dict[str, list[DropFile]]  # every campaign (valid id or not) with the files its run reads
    changed_at: dict[str, float]  # the newest change behind each: its folder, or its whole catalog drop
    catalogs: dict[str, list[str]]  # catalog drop -> the campaigns of its rows
    problems: list[str]  # catalog drops and rows that register nothing, each with its reason
    broken: list[str]  # catalog drops whose catalog or template cannot be read now (their rows are kept)


class SkuDrop(NamedTuple):
    """Where a catalog row's campaign comes from: its drop folder, the parsed catalog and the row."""

    drop: str
    files: list[DropFile]
    catalog: Catalog
    row: CatalogRow


def url_problem(url: str) -> str | None:
    """Why a row's image URL may not be fetched (the rules of result downloads), or None."""
    try:
        check_url(url)
    except DownloadError as exc:
        return str(exc)
    return None


def content_etag(text: str) -> str:
    """A content hash in a listing's etag field, marked so it is never taken for an S3 ETag."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def row_files(catalog: Catalog, row: CatalogRow, dropped: Mapping[str, DropFile]) -> list[DropFile]:
    """A row's campaign as its run sees it: ``campaign.yaml`` (the rendered template, or the row's error) and its
    images; changing any of them, and nothing else, changes the campaign's fingerprint."""
    identity = catalog.identity(row)
    listed = [DropFile(MANIFEST_NAME, len(identity), 0.0, content_etag(identity))]
    for image in row.images:
        file = dropped.get(image.file or "")
        listed.append(
            file._replace(name=image.name) if file else DropFile(image.name, 0, 0.0, content_etag(image.url or ""))
        )
    return sorted(listed)


def read_catalog(read_file: ReadFile, drop: str, files: list[DropFile]) -> Catalog | None:
    """The parsed catalog of a drop folder, None for a plain folder; ``CatalogProblem`` when it is unusable."""
    names = {f.name for f in files}
    name = catalog_name(names)
    if name is None:
        return None
    data = read_file(drop, name, MAX_CATALOG_BYTES + 1) or b""
    template = read_file(drop, MANIFEST_NAME, MAX_MANIFEST_BYTES + 1)
    return parse_catalog(drop, name, data, template, names, url_problem)


def drop_listing(folders: dict[str, list[DropFile]], read_file: ReadFile) -> DropListing:
    """Every campaign of one listing of the drop zone: plain folders as they are, and each row of each catalog drop
    (a catalog drop's rows share its newest change, so a half-written catalog settles as a whole). A row whose id
    another drop has already is reported and skipped."""
    listing = DropListing({}, {}, {}, [], [])
    catalogs = []
    for folder, files in folders.items():
        if is_campaign_id(folder) and catalog_name({f.name for f in files}):
            catalogs.append((folder, files))
            continue
        listing.campaigns[folder] = files
        if files:
            listing.changed_at[folder] = max(f.mtime for f in files)
    for drop, files in catalogs:
        try:
            catalog = read_catalog(read_file, drop, files)
        except CatalogProblem as exc:
            listing.problems.append(str(exc))
            listing.broken.append(drop)
            continue
        assert catalog is not None
        listing.problems.extend(catalog.unnamed)
        listing.catalogs[drop] = []
        dropped, changed = {f.name: f for f in files}, max(f.mtime for f in files)
        for campaign, row in catalog.rows.items():
            if campaign in listing.campaigns:
                listing.problems.append(
                    f"catalog drop {drop!r}, file {catalog.name}, row {row.number}: campaign id {campaign!r} "
                    "is taken by another drop; the row is skipped"
                )
                continue
            listing.campaigns[campaign] = row_files(catalog, row, dropped)
            listing.changed_at[campaign] = changed
            listing.catalogs[drop].append(campaign)
    return listing


def download_image(image: CatalogImage, dest: Path, campaign: str, where: str) -> Path:
    """Download a row's URL image to ``dest`` with the rules of result downloads (https only, or http on loopback;
    a size cap; an image content type); the decode is checked where every image is, in ``source_images``. A
    refusal is a ``CampaignError`` naming the campaign and ``where`` (catalog, row, column); a passing network
    problem stays retryable."""
    try:
        download_to_store(image.url or "", LocalMediaStore(root=str(dest.parent)), dest.name,
                          max_bytes=MAX_CATALOG_IMAGE_BYTES, content_types=IMAGE_CONTENT_TYPES)  # fmt: skip
    except RetryableDownloadError as exc:
        raise RetryableDownloadError(f"campaign {campaign!r}, {where}: {exc}") from None
    except DownloadError as exc:
        raise CampaignError(f"campaign {campaign!r}, {where}: {exc}") from None
    return dest
