"""A catalog drop's template: the merge fields its text values use, and a row's values filled in.

The ``campaign.yaml`` of a catalog drop is a template: any text value may hold merge fields in braces (``{title}``),
each one a column of the catalog. ``template_fields`` finds them (only plain ``{name}`` fields, so a template cannot
reach attributes or format specs) and ``render_template`` fills a row's values in, as data: a value is never read as
YAML. Kept apart from ``catalog_feed``, which reads the feed and judges its rows. It imports no Dagster.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

from .manifest_yaml import shown

_FORMATTER = string.Formatter()


def template_fields(data: Any) -> set[str]:
    """Every merge field the template's text values use; ``ValueError`` naming the text for anything but a plain
    ``{name}``."""
    fields: set[str] = set()
    for text in _texts(data):
        try:
            parsed = list(_FORMATTER.parse(text))
        except ValueError as exc:
            raise ValueError(f"{shown(text)}: {exc} (write a literal brace as '{{{{' or '}}}}')") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                raise ValueError(f"{shown(text)}: a merge field is a column name in braces, like {{title}}")
            fields.add(name)
    return fields


def _texts(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _texts(value)
    elif isinstance(data, list):
        for value in data:
            yield from _texts(value)


def render_template(data: Any, values: dict[str, str]) -> Any:
    """``data`` with every text value's merge fields filled in from ``values``."""
    if isinstance(data, str):
        return data.format_map(values)
    if isinstance(data, dict):
        return {key: render_template(value, values) for key, value in data.items()}
    if isinstance(data, list):
        return [render_template(value, values) for value in data]
    return data
