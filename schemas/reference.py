"""A config reference in Markdown, generated from pydantic models' field descriptions.

Rules:
- The reference is derived, never hand-written: every field of every model it walks must have a
  ``description`` (a missing one is an error naming the field), so a new config key cannot ship
  undocumented.
- Nested models are flattened to dotted keys (``alerts.webhooks[].url``, ``probes.<name>.url``), in
  declaration order, so the output is stable and a regenerated page is byte-identical.
- A page keeps its hand-written prose: only the text between ``<!-- BEGIN GENERATED: name -->`` and
  ``<!-- END GENERATED: name -->`` is replaced; missing markers are an error, never an append.
- Pure: models in, text out. Which model goes to which page is the caller's table (``tasks``), because
  ``schemas`` imports none of the three sides.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any, Literal

import annotated_types
from pydantic import AnyUrl, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["DocReferenceError", "reference_table", "splice"]

_SCALARS: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
}


class DocReferenceError(ValueError):
    """The reference cannot be generated: a field without a description, or a page without markers."""


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _literal(values: tuple[object, ...]) -> str:
    return " | ".join(f"`{value}`" for value in values)


def _type(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return _literal(args)
    if origin in (typing.Union, types.UnionType):
        kept = [arg for arg in args if arg is not type(None)]
        text = " or ".join(_type(arg) for arg in kept)
        return f"{text} or null" if len(kept) < len(args) else text
    if origin is tuple or origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1])}"
    if isinstance(annotation, type):
        if issubclass(annotation, PurePath):
            return "path"
        if issubclass(annotation, AnyUrl):
            return "URL"
        if _is_model(annotation):
            return "mapping"
        for base, name in _SCALARS.items():
            if issubclass(annotation, base):
                return name
    return str(annotation)


def _bounds(field: FieldInfo) -> str:
    marks = []
    for meta in field.metadata:
        for kind, sign in (
            (annotated_types.Gt, ">"),
            (annotated_types.Ge, "≥"),
            (annotated_types.Lt, "<"),
            (annotated_types.Le, "≤"),
        ):
            if isinstance(meta, kind):
                marks.append(f"{sign} {getattr(meta, kind.__name__.lower())}")
    return f", {' and '.join(marks)}" if marks else ""


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_value(item)}" for key, item in value.items()) + "}"
    return str(value)


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    if field.default_factory is not None:
        return "–"
    return f"`{_value(field.default)}`"


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        if not field.description:
            raise DocReferenceError(f"{model.__name__}.{name} has no description: add Field(description=...)")
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if _is_model(annotation):
            yield f"`{key}`", "mapping", "", field.description
            yield from _rows(typing.cast(type[BaseModel], annotation), f"{key}.")
        elif origin is dict and _is_model(args[1]):
            keys = typing.get_args(args[0]) if typing.get_origin(args[0]) is Literal else ("name",)
            yield f"`{key}`", f"map of {_type(args[0])} to mapping", _default(field), field.description
            yield from _rows(args[1], f"{key}.<{'|'.join(str(k) for k in keys)}>.")
        elif origin in (tuple, list) and args and _is_model(args[0]):
            yield f"`{key}`", "list of mappings", _default(field), field.description
            yield from _rows(args[0], f"{key}[].")
        else:
            yield f"`{key}`", _type(annotation) + _bounds(field), _default(field), field.description


def _cell(text: str) -> str:
    # A pipe inside a cell would end it (GitHub honours the escape inside code spans too).
    return text.replace("\n", " ").replace("|", "\\|")


def reference_table(model: type[BaseModel]) -> str:
    """The model's keys as one Markdown table: key, type, default, description."""
    lines = ["| key | type | default | what it is |", "|---|---|---|---|"]
    for key, kind, default, description in _rows(model, ""):
        lines.append(f"| {_cell(key)} | {_cell(kind)} | {_cell(default)} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN GENERATED: {name} -->\n", f"<!-- END GENERATED: {name} -->"


def splice(text: str, name: str, body: str) -> str:
    """``text`` with the block between ``name``'s markers replaced by ``body``."""
    begin, end = _markers(name)
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start >= 0 else -1
    if start < 0 or stop < 0:
        raise DocReferenceError(f"no '{begin.strip()}' … '{end}' block to fill")
    return text[: start + len(begin)] + body + text[stop:]
