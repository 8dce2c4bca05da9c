"""Catalog drops: one campaign per row of a product feed, made from one template manifest.

A drop folder holding ``catalog.csv`` (or ``catalog.jsonl``) is a catalog drop: its ``campaign.yaml`` is a template,
and each row (one SKU) becomes its own campaign ``<drop>-<sku>`` (``campaign_id_for``). Every text value of the
template takes merge fields from the row (``{title}``, ``{color}``); a column named ``image`` or ending in ``_image``
names an image by file (dropped beside the catalog) or by URL, and its merge field is the name the SKU's campaign
sees (``image.jpg``). This module only reads text: it parses the feed, renders a row's manifest (through
``catalog_template``), and says what is wrong by row number and column, so the drop zones (folder and S3) and the
sensor share one set of rules. Problems that stop a whole drop (no ``sku`` column, a broken template, a merge field
that is no column) are the catalog's; a row with an empty sku cannot be named and is reported; any other bad row
keeps its campaign, whose run fails with the row's error. It imports no Dagster.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from .campaign import IMAGE_EXTENSIONS, MANIFEST_NAME, is_image_name
from .catalog_template import render_template, template_fields
from .manifest_yaml import ManifestSyntaxError, decode_manifest, load_yaml, shown

CATALOG_NAMES = ("catalog.csv", "catalog.jsonl")
MAX_CATALOG_BYTES = 16 << 20
SKU_COLUMN = "sku"
MAX_ID = 63  # CAMPAIGN_ID_PATTERN: 1 + 62 characters
MAX_DROP = 40
_NOT_IN_ID = re.compile(r"[^a-z0-9_-]+")

UrlProblem = Callable[[str], "str | None"]
"""Why a URL may not be fetched (the drop zone's download rules), or None when it may."""


class CatalogProblem(ValueError):
    """A problem of a whole catalog drop; the message names the drop, the file and what to fix."""


@dataclass(frozen=True)
class CatalogImage:
    """An image a row names: ``name`` is what its campaign sees; exactly one of ``file`` and ``url`` is set."""

    column: str
    name: str
    file: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class CatalogRow:
    """One SKU: the merge values its campaign is rendered with, or the error its run fails with (row and column)."""

    number: int
    sku: str
    campaign_id: str
    images: tuple[CatalogImage, ...] = ()
    merge: tuple[tuple[str, str], ...] = ()  # (field, value) for each field the template uses
    error: str | None = None


@dataclass
class Catalog:
    """A parsed catalog drop: rows by campaign id; ``unnamed`` rows (no sku) reported, not registered."""

    drop: str
    name: str
    template: Any = None  # the template's YAML data
    template_sha: str = ""
    rows: dict[str, CatalogRow] = field(default_factory=dict)
    unnamed: list[str] = field(default_factory=list)

    def manifest(self, row: CatalogRow) -> str:
        """A good row's ``campaign.yaml``: the template with the row's merge fields filled in, as data (a value is
        never read as YAML). Rendered on demand: a sensor tick needs only ``identity``."""
        data = render_template(self.template or {}, dict(row.merge))
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def identity(self, row: CatalogRow) -> str:
        """What a row's campaign is made from, as text: its error, or the template and the row's merge values
        (a column the template does not use is not part of it)."""
        return row.error or json.dumps([self.template_sha, row.merge])


def campaign_id_for(drop: str, sku: str) -> str:
    """``<drop>-<sku>``, lower-cased, each run of characters outside ``[a-z0-9_-]`` mapped to one ``-``; an id
    longer than 63 characters is cut to 56 and ends in ``-`` and 6 hex digits of the sku's SHA-256 (so two long
    skus sharing a start stay apart). The drop is a valid campaign id, so the result is one too."""
    candidate = f"{drop}-{_NOT_IN_ID.sub('-', sku.strip().lower())}"
    if len(candidate) <= MAX_ID:
        return candidate
    return f"{candidate[: MAX_ID - 7]}-{hashlib.sha256(sku.encode()).hexdigest()[:6]}"


def catalog_name(files: set[str]) -> str | None:
    """The catalog file a drop holds (``catalog.csv`` before ``catalog.jsonl``), or None for a plain drop."""
    return next((name for name in CATALOG_NAMES if name in files), None)


def _cell(value: Any) -> str:
    """A JSON value as a cell's text; nested values are refused by the caller."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _records(name: str, text: str, where: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    """``(row number, cells or the row's problem)``: CSV rows numbered as a spreadsheet shows them (the header is
    row 1), JSONL rows by line."""
    if name.endswith(".csv"):
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [column.strip() for column in next(reader, [])]
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated or "" in header:
            raise CatalogProblem(f"{where}: the header names column {shown(duplicated[0] if duplicated else '')} "
                                 "twice or not at all; every column needs its own name")  # fmt: skip
        if SKU_COLUMN not in header:
            raise CatalogProblem(f"{where}: no {SKU_COLUMN!r} column (the header is {', '.join(header)})")
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                yield number, f"column {len(header) + 1}: a cell beyond the header's {len(header)} columns"
                continue
            yield number, dict(zip(header, [c.strip() for c in cells] + [""] * (len(header) - len(cells)), strict=True))
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield number, f"not a JSON object ({exc})"
            continue
        if not isinstance(obj, dict):
            yield number, f"not a JSON object but {type(obj).__name__}"
            continue
        nested = next((k for k, v in obj.items() if isinstance(v, dict | list)), None)
        if nested is not None:
            yield number, f"column {shown(nested)}: a nested value; a cell holds text or a number"
            continue
        yield number, {str(k).strip(): _cell(v).strip() for k, v in obj.items()}


def _image(column: str, value: str, files: set[str], url_problem: UrlProblem) -> CatalogImage:
    """The image a cell names; ``ValueError`` with the reason when it cannot be one."""
    if "://" in value:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        suffix = posixpath.splitext(value.split("?", 1)[0].split("#", 1)[0])[1].lower()
        return CatalogImage(column, column + (suffix if suffix in IMAGE_EXTENSIONS else ".jpg"), url=value)
    if "/" in value or value.startswith(".") or value in (MANIFEST_NAME, *CATALOG_NAMES):
        raise ValueError(f"{shown(value)} is not a file name beside the catalog (nor an https URL)")
    if not is_image_name(value):
        raise ValueError(f"{shown(value)} is not a {', '.join(IMAGE_EXTENSIONS)} file")
    if value not in files:
        raise ValueError(f"{shown(value)} was not dropped beside the catalog")
    return CatalogImage(column, column + posixpath.splitext(value)[1].lower(), file=value)


def _row(number: int, cells: dict[str, str], drop: str, fields: set[str], where: str, files: set[str],
         url_problem: UrlProblem) -> CatalogRow:  # fmt: skip
    sku = cells[SKU_COLUMN]
    campaign_id = campaign_id_for(drop, sku)
    at = f"{where}, row {number}"
    images, values = [], dict(cells)
    for column in sorted(c for c in cells if c == "image" or c.endswith("_image")):
        if not cells[column]:
            continue
        try:
            images.append(_image(column, cells[column], files, url_problem))
        except ValueError as exc:
            return CatalogRow(number, sku, campaign_id, error=f"{at}, column {column!r}: {exc}")
        values[column] = images[-1].name
    for name in sorted(fields):
        if not values.get(name):
            state = "empty" if name in cells else "missing"
            return CatalogRow(
                number, sku, campaign_id, error=f"{at}, column {name!r}: {state}, and the template uses {{{name}}}"
            )
    return CatalogRow(number, sku, campaign_id, tuple(images), tuple((name, values[name]) for name in sorted(fields)))


def parse_catalog(
    drop: str, name: str, data: bytes, template: bytes | None, files: set[str], url_problem: UrlProblem
) -> Catalog:
    """Parse a catalog drop: the catalog file's bytes, the template's bytes (None: defaults) and the names of the
    files dropped beside them. ``CatalogProblem`` when the drop as a whole cannot be used."""
    where = f"catalog drop {drop!r}, file {name}"
    if len(drop) > MAX_DROP:
        raise CatalogProblem(f"catalog drop {drop!r}: a catalog drop's name has at most {MAX_DROP} characters, "
                             "so each row's campaign id <drop>-<sku> keeps room for its sku")  # fmt: skip
    if len(data) > MAX_CATALOG_BYTES:
        raise CatalogProblem(f"{where}: larger than {MAX_CATALOG_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8-sig")
        template_data = load_yaml(decode_manifest(template)) if template is not None else None
    except UnicodeDecodeError as exc:
        raise CatalogProblem(f"{where}: not UTF-8 (byte {exc.start})") from None
    except ManifestSyntaxError as exc:
        raise CatalogProblem(f"catalog drop {drop!r}, file {MANIFEST_NAME} (the template): {exc}") from None
    try:
        fields = template_fields(template_data)
    except ValueError as exc:
        raise CatalogProblem(f"catalog drop {drop!r}, file {MANIFEST_NAME} (the template): {exc}") from None
    catalog = Catalog(drop, name, template_data, hashlib.sha256(template or b"").hexdigest())
    duplicates: dict[str, list[int]] = {}
    records = list(_records(name, text, where))
    if name.endswith(".csv") and records:
        columns = next((set(cells) for _, cells in records if isinstance(cells, dict)), set())
        unknown = sorted(fields - columns)
        if columns and unknown:
            raise CatalogProblem(f"{where}: the template uses {{{unknown[0]}}}, which is not a column "
                                 f"(columns: {', '.join(sorted(columns))})")  # fmt: skip
    for number, cells in records:
        if isinstance(cells, str) or not cells.get(SKU_COLUMN):
            problem = cells if isinstance(cells, str) else f"column {SKU_COLUMN!r}: empty"
            catalog.unnamed.append(f"{where}, row {number}, {problem}; the row is skipped")
            continue
        row = _row(number, cells, drop, fields, where, files, url_problem)
        duplicates.setdefault(row.campaign_id, []).append(number)
        catalog.rows.setdefault(row.campaign_id, row)
    for campaign_id, numbers in duplicates.items():
        if len(numbers) > 1:
            first = catalog.rows[campaign_id]
            listed = ", ".join(str(n) for n in numbers)
            error = (
                f"{where}, rows {listed}, column {SKU_COLUMN!r}: all map to campaign id {campaign_id!r}; "
                "give each row its own sku"
            )
            catalog.rows[campaign_id] = CatalogRow(first.number, first.sku, campaign_id, error=error)
    return catalog
