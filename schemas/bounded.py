"""Parsing untrusted documents with bounded nesting, and describing their errors without their values.

Rules:
- Depth is measured before the recursive parser runs, by loops that keep one counter (never by
  recursion), so neither ``json.loads`` nor ruamel's composer can hit RecursionError or build a
  structure deeper than ``MAX_DEPTH``. Size is bounded by the reader (``fileio.read_regular``).
- Error messages name a byte offset, a line, an error type or a schema field: never a byte of the
  document, because the document may be someone else's secret file planted at our path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

__all__ = ["MAX_DEPTH", "DepthError", "check_json_depth", "check_yaml_depth", "field_error", "load_json"]

MAX_DEPTH = 64
_JSON_SPECIAL = re.compile(rb'["\\\[\]{}]')


class DepthError(ValueError):
    """A document nested deeper than allowed."""


def check_json_depth(data: bytes, limit: int = MAX_DEPTH) -> None:
    """Raise DepthError when brackets outside strings nest deeper than ``limit``."""
    depth = 0
    in_string = False
    skip_to = -1
    for match in _JSON_SPECIAL.finditer(data):
        position = match.start()
        if position < skip_to:
            continue
        char = match.group()
        if in_string:
            if char == b"\\":
                skip_to = position + 2
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise DepthError(f"nested deeper than {limit} levels (at byte {position})")
        elif char in (b"]", b"}"):
            depth -= 1


def load_json(data: bytes, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` after the depth check; errors say where, never what."""
    check_json_depth(data, limit)
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (at byte {exc.pos})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (at byte {exc.start})") from None


def check_yaml_depth(data: bytes | str, limit: int = MAX_DEPTH) -> None:
    """Raise DepthError (or ValueError for a YAML syntax error) before any composing happens.

    ruamel's scanner and parser are state machines (no recursion); only the composer and the
    constructors recurse, and they run after this check.
    """
    depth = 0
    try:
        for event in YAML(typ="rt").parse(data):
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > limit:
                    mark = event.start_mark
                    line = f" (line {mark.line + 1})" if mark is not None else ""
                    raise DepthError(f"nested deeper than {limit} levels{line}")
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"not valid YAML ({type(exc).__name__}{where})") from None


def field_error(error: ValidationError) -> str:
    """The first validation error as ``field.path: error_type (+N more)``, with no input value.

    pydantic's messages can quote what a validator saw, and an unexpected key is the document's own
    word, so only the schema's field names and the error type are kept.
    """
    detail = error.errors()[0]
    parts = [str(part) for part in detail["loc"]]
    if detail["type"] == "extra_forbidden" and parts:
        parts[-1] = "(unexpected field)"
    location = ".".join(parts) or "(document)"
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {detail['type']}{more}"
