"""A config reference in Markdown, generated from pydantic models' field descriptions, from an
argparse parser's help texts, or from a Prometheus registry's metric families.

Rules:
- The reference is derived, never hand-written: every field of every model it walks must have a
  ``description`` (a missing one is an error naming the field), so a new config key cannot ship
  undocumented.
- Nested models are flattened to dotted keys (``alerts.webhooks[].url``, ``probes.<name>.url``), in
  declaration order, so the output is stable and a regenerated page is byte-identical.
- A discriminated union (``store``, ``version_files[]``) is one row in its table and one sub-table
  per variant after it, headed by the discriminator's value, in the union's order; a union of
  models without a discriminator is an error (no way to say which keys go together).
- Command-line options are read from the real parser: every option needs a ``help`` (a missing one
  is an error naming the flag). The table has its own default column, so a help text's trailing
  ``(default %(default)s)`` (there for ``--help``) is left out of it.
- Metrics are read from the real registry (built, never served): each family's exposed name, type,
  label names and help, in registration order; a histogram's buckets from its samples. A metric
  without help is an error naming it.
- A page keeps its hand-written prose: only the text between ``<!-- BEGIN GENERATED: name -->`` and
  ``<!-- END GENERATED: name -->`` is replaced; missing markers are an error, never an append.
- Pure: models, parsers and registries in, text out. Which one goes to which page is the caller's table
  (``tasks.docref``). It lives in ``tasks``, not in ``schemas``: generating docs is development
  work, and the VM installs ``schemas`` but never ``tasks``.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

import annotated_types
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from pydantic import AnyUrl, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["DocReferenceError", "metrics_table", "options_table", "reference_table", "splice"]

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
    if origin is typing.Annotated:
        return _type(args[0])
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
    if value == "":
        # An empty code span would not render at all.
        return '""'
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


@dataclass(frozen=True)
class _Variant:
    """One variant of a discriminated union: its sub-table follows the table that names the union."""

    key: str
    discriminator: str
    value: str
    model: type[BaseModel]


def _union(annotation: object, field: FieldInfo | None) -> tuple[str, list[type[BaseModel]]] | None:
    """The discriminator and variants when ``annotation`` is a union of models, else None."""
    discriminator = field.discriminator if field is not None else None
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        for meta in metadata:
            if isinstance(meta, FieldInfo) and meta.discriminator is not None:
                discriminator = meta.discriminator
        annotation = inner
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    variants = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if len(variants) < 2 or not all(_is_model(arg) for arg in variants):
        return None
    if not isinstance(discriminator, str):
        raise DocReferenceError(f"a union of {', '.join(v.__name__ for v in variants)} has no discriminator")
    return discriminator, variants


def _variants(key: str, union: tuple[str, list[type[BaseModel]]], shape: str) -> tuple[str, list[_Variant]]:
    """The union's type cell (``shape`` by its discriminator's values) and its variants under ``key``."""
    discriminator, models = union
    out = []
    for model in models:
        literal = model.model_fields[discriminator].annotation
        values = typing.get_args(literal) if typing.get_origin(literal) is Literal else ()
        if len(values) != 1:
            raise DocReferenceError(f"{model.__name__}.{discriminator} is not a single Literal value")
        out.append(_Variant(key, discriminator, str(values[0]), model))
    kinds = _literal(tuple(variant.value for variant in out))
    return f"{shape} by `{discriminator}`: {kinds}", out


def _optional_model(annotation: object) -> type[BaseModel] | None:
    """``Model`` for ``Model | None``."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if len(kept) == 1 and _is_model(kept[0]):
        return typing.cast(type[BaseModel], kept[0])
    return None


def _rows(
    model: type[BaseModel], prefix: str, variants: list[_Variant]
) -> Iterator[tuple[str, str, str, str]]:
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        if not field.description:
            raise DocReferenceError(f"{model.__name__}.{name} has no description: add Field(description=...)")
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        union = _union(annotation, field)
        listed = _union(args[0], None) if origin in (tuple, list) and args else None
        optional = _optional_model(annotation)
        if _is_model(annotation):
            yield f"`{key}`", "mapping", "", field.description
            yield from _rows(typing.cast(type[BaseModel], annotation), f"{key}.", variants)
        elif union is not None:
            kind, found = _variants(key, union, "mapping")
            variants += found
            yield f"`{key}`", kind, _default(field), field.description
        elif listed is not None:
            kind, found = _variants(f"{key}[]", listed, "list of mappings")
            variants += found
            yield f"`{key}`", kind, _default(field), field.description
        elif optional is not None:
            yield f"`{key}`", "mapping or null", _default(field), field.description
            yield from _rows(optional, f"{key}.", variants)
        elif origin is dict and _is_model(args[1]):
            keys = typing.get_args(args[0]) if typing.get_origin(args[0]) is Literal else ("name",)
            yield f"`{key}`", f"map of {_type(args[0])} to mapping", _default(field), field.description
            yield from _rows(args[1], f"{key}.<{'|'.join(str(k) for k in keys)}>.", variants)
        elif origin in (tuple, list) and args and _is_model(args[0]):
            yield f"`{key}`", "list of mappings", _default(field), field.description
            yield from _rows(args[0], f"{key}[].", variants)
        else:
            yield f"`{key}`", _type(annotation) + _bounds(field), _default(field), field.description


# What CommonMark reads as the start of raw HTML (a tag, a closing tag, a comment, an instruction).
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")


def _cell(text: str) -> str:
    # A pipe inside a cell would end it (GitHub honours the escape inside code spans too). Outside
    # code spans, `<link>` or `<dir>` would be read as HTML and vanish from the page.
    parts = text.replace("\n", " ").split("`")
    parts[::2] = [_HTML_START.sub("&lt;", part) for part in parts[::2]]
    return "`".join(parts).replace("|", "\\|")


_HEADER = ["| key | type | default | what it is |", "|---|---|---|---|"]


def _table(model: type[BaseModel], prefix: str, variants: list[_Variant]) -> list[str]:
    lines = list(_HEADER)
    for key, kind, default, description in _rows(model, prefix, variants):
        lines.append(f"| {_cell(key)} | {_cell(kind)} | {_cell(default)} | {_cell(description)} |")
    return lines


def reference_table(model: type[BaseModel]) -> str:
    """The model's keys as one Markdown table (key, type, default, description), then one table per
    variant of each discriminated union it holds."""
    variants: list[_Variant] = []
    lines = _table(model, "", variants)
    # Variants found inside a variant's table are appended while this loop walks the list.
    for variant in variants:
        heading = f"**`{variant.key}` with `{variant.discriminator}: {variant.value}`**"
        lines += ["", heading, "", *_table(variant.model, f"{variant.key}.", variants)]
    return "\n".join(lines) + "\n"


# argparse's HelpFormatter._expand_help (CPython Lib/argparse.py) fills a help text's %-fields
# from the action's attributes, with callables by name and choices comma-joined; we do the same so
# the table reads what `--help` prints.
def _expand_help(parser: argparse.ArgumentParser, action: argparse.Action, text: str) -> str:
    params: dict[str, object] = {**vars(action), "prog": parser.prog}
    params = {name: value for name, value in params.items() if value is not argparse.SUPPRESS}
    params = {name: getattr(value, "__name__", value) for name, value in params.items()}
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(choice) for choice in action.choices or ())
    return text % params


_DEFAULT_SUFFIX = " (default %(default)s)"


def _option_value(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "flag"
    if action.choices is not None:
        return _literal(tuple(action.choices))
    # argparse hands every value over as a string; a converter that is not a class (str.lower)
    # still gives a string.
    kind = action.type
    return _type(kind) if isinstance(kind, type) else "string"


def _option_default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.default is None or action.nargs == 0:
        return "–"
    return f"`{_value(action.default)}`"


def options_table(parser: argparse.ArgumentParser) -> str:
    """The parser's options as one Markdown table: flag, value, default, description."""
    lines = ["| option | value | default | what it is |", "|---|---|---|---|"]
    # argparse has no public list of a parser's actions; `_actions` is what its own help reads.
    for action in parser._actions:
        if action.default is argparse.SUPPRESS or action.help is argparse.SUPPRESS:
            # --help and --version say what the program is, not how it runs; a suppressed help
            # hides an option from --help on purpose.
            continue
        flag = ", ".join(f"`{option}`" for option in action.option_strings) or f"`{action.dest}`"
        if not action.help:
            name = "/".join(action.option_strings) or action.dest
            raise DocReferenceError(f"{parser.prog} {name} has no help text: add help=...")
        text = action.help.removesuffix(_DEFAULT_SUFFIX)
        description = _expand_help(parser, action, text)
        cells = (flag, _option_value(action), _option_default(action), description)
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


# What a family's type adds to its name in the exposition (prometheus_client strips it on creation).
_EXPOSED_SUFFIX = {"counter": "_total"}
# Labels prometheus_client adds to a histogram's or summary's samples, not the code's own.
_RESERVED_LABELS = frozenset({"le", "quantile"})


def _label_names(collector: object, family: Metric) -> tuple[str, ...]:
    # prometheus_client has no public accessor: a labelled metric with no child yet has no samples
    # to read them from. A Counter/Gauge/Histogram keeps them on itself, a MetricFamily built by a
    # custom collector on the family.
    names: tuple[str, ...] = getattr(family, "_labelnames", ()) or getattr(collector, "_labelnames", ())
    return tuple(name for name in names if name not in _RESERVED_LABELS)


def _buckets(family: Metric) -> str:
    bounds = [s.labels["le"] for s in family.samples if s.name.endswith("_bucket") and "le" in s.labels]
    return f" Buckets: {', '.join(bounds)}." if bounds else ""


def metrics_table(registry: CollectorRegistry) -> str:
    """The registry's metrics as one Markdown table: exposed name, type, labels, help."""
    lines = ["| metric | type | labels | what it counts |", "|---|---|---|---|"]
    # The registry's collectors in registration order; `collect()` alone loses the wrappers that
    # hold the label names (see _label_names).
    for collector in list(registry._collector_to_names):
        for family in collector.collect():
            name = family.name + _EXPOSED_SUFFIX.get(family.type, "")
            if not family.documentation.strip():
                raise DocReferenceError(f"metric {name} has no help text: give it a documentation string")
            labels = ", ".join(f"`{label}`" for label in _label_names(collector, family)) or "–"
            text = family.documentation + (_buckets(family) if family.type == "histogram" else "")
            cells = (f"`{name}`", family.type, labels, text)
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
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
