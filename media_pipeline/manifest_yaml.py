"""Reading ``campaign.yaml`` as hostile input: bounded size, UTF-8 only, a YAML subset without surprises.

A manifest comes from whoever can write to the drop zone, so reading it must cost little whatever it holds:
at most ``MAX_MANIFEST_BYTES``, refused if not UTF-8, and parsed by PyYAML's ``SafeLoader`` with these hooks —
no aliases (a 1 KB "billion laughs" document would otherwise expand to gigabytes), no duplicate keys (the last
one would silently win), no nesting deeper than ``MAX_DEPTH``, and no YAML 1.1 sexagesimal numbers (an unquoted
``16:9`` is the integer 969 there); a value Python cannot convert (a 5000-digit number) is a syntax error too.
Every message quotes at most ``SHOWN_CHARS`` of the input, and ``describe_problems`` turns the manifest model's
validation errors into one short line that names each key (and its shot) without repeating the input. No Dagster here.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_MANIFEST_BYTES = 256 * 1024
MAX_DEPTH = 16
SHOWN_CHARS = 60
MAX_PROBLEMS_SHOWN = 5  # problems listed in one message
SHOWN_KEY = 40  # characters of a key or a shot name shown


class ManifestSyntaxError(ValueError):
    """The manifest text cannot be read as the pipeline's YAML subset; the message says where and why."""


def shown(value: object) -> str:
    """``repr(value)`` cut to ``SHOWN_CHARS``, so no message grows with its input."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[: SHOWN_CHARS - 5]}...{text[-2:]}"


def _line(node_or_event: Any) -> int:
    return node_or_event.start_mark.line + 1


class StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases, duplicate keys, deep nesting and sexagesimal numbers."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ManifestSyntaxError(
                f"line {_line(event)}: YAML aliases (*{event.anchor[:SHOWN_CHARS]}) are not allowed; "
                "write the value out in full"
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ManifestSyntaxError(f"line {_line(self.peek_event())}: nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except ManifestSyntaxError:
            raise
        except (ValueError, OverflowError) as exc:  # a 5000-digit integer, a 13th month
            what = shown(node.value) if isinstance(node, ScalarNode) else "this value"
            raise ManifestSyntaxError(f"line {_line(node)}: {what} cannot be read ({str(exc)[:SHOWN_CHARS]})") from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                if key in first:
                    raise ManifestSyntaxError(
                        f"line {_line(key_node)}: key {shown(key)} appears twice (first on line {first[key]}); keep one"
                    )
                first[key] = _line(key_node)
            except TypeError:  # an unhashable key: SafeLoader says so below
                break
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: ScalarNode) -> int:
        self._refuse_sexagesimal(node)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        self._refuse_sexagesimal(node)
        return super().construct_yaml_float(node)

    @staticmethod
    def _refuse_sexagesimal(node: ScalarNode) -> None:
        if ":" in node.value:
            raise ManifestSyntaxError(
                f"line {_line(node)}: unquoted {node.value[:SHOWN_CHARS]} is a number in YAML 1.1 (base 60); "
                f'put it in quotes: "{node.value[:SHOWN_CHARS]}"'
            )


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
StrictLoader.add_constructor("tag:yaml.org,2002:float", StrictLoader.construct_yaml_float)


def decode_manifest(data: bytes) -> str:
    """The manifest's text: at most ``MAX_MANIFEST_BYTES`` of UTF-8 (a BOM is allowed), else ``ManifestSyntaxError``."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestSyntaxError(f"larger than {MAX_MANIFEST_BYTES // 1024} KiB; a manifest is a short settings file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestSyntaxError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save the file as UTF-8"
        ) from None


def load_yaml(text: str) -> Any:
    """Parse manifest text with ``StrictLoader``; any YAML problem becomes a ``ManifestSyntaxError`` with its line."""
    try:
        loader = StrictLoader(text)  # the reader refuses control characters already here
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ManifestSyntaxError(
            f"not valid YAML: line {line}: character #x{exc.character:04x} is not allowed"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ManifestSyntaxError(f"not valid YAML: {where}{exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ManifestSyntaxError(f"not valid YAML: {str(exc)[: SHOWN_CHARS * 2]}") from None


def _shot_label(data: dict, index: int) -> str:
    """A shot of the raw manifest as the other errors name it: by its id or image stem, else by its position."""
    shots = data.get("shots")
    shot = shots[index] if isinstance(shots, list) and index < len(shots) else None
    if isinstance(shot, dict):
        name = shot.get("id") or PurePosixPath(str(shot.get("image") or "")).stem
        if name:
            return f"shot {str(name)[:SHOWN_KEY]!r}"
    return f"shot {index + 1}"


def describe_problems(exc: ValidationError, data: dict) -> str:
    """The first few problems, each with its key (and its shot, named like other errors name it); pydantic's own
    text would repeat the (maybe huge) input."""
    problems = []
    errors = exc.errors(include_url=False, include_input=False)
    for error in errors[:MAX_PROBLEMS_SHOWN]:
        loc = list(error["loc"])
        shot = ""
        if len(loc) > 2 and loc[0] == "shots" and isinstance(loc[1], int):
            shot, loc = f"{_shot_label(data, loc[1])}, ", loc[2:]
        key = ".".join(str(part)[:SHOWN_KEY] for part in loc) or "(top level)"
        if error["type"] == "extra_forbidden":
            problems.append(f"{shot}unknown key {key!r}")
        else:
            problems.append(f"{shot}key {key!r}: {error['msg'][:200]}" if shot else f"{key}: {error['msg'][:200]}")
    if len(errors) > MAX_PROBLEMS_SHOWN:
        problems.append(f"and {len(errors) - MAX_PROBLEMS_SHOWN} more")
    return "; ".join(problems)
