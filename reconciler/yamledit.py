"""Round-trip edit of ``update.default_version`` / ``update.default_build`` in ``unified_config.yaml``.

Rules: the file belongs to the server team; only the two owned keys may change. Comments, key
order, anchors, merge keys, flow style and quoting survive because ruamel's round-trip mode is
used and the document is re-dumped only when an owned value really differs. A new value keeps the
quote style of the value it replaces (double quotes when the key is new).
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString, SingleQuotedScalarString

__all__ = ["OWNED_KEYS", "YamlEditError", "read_update_version", "set_update_version"]

OWNED_KEYS = ("default_version", "default_build")


class YamlEditError(ValueError):
    """The file cannot be read as the expected YAML mapping; nothing is written."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the server team's long lines
    return yaml


def _load(data: bytes) -> Any:
    try:
        document = _yaml().load(data)
    except YAMLError as exc:
        raise YamlEditError(f"not valid YAML ({type(exc).__name__})") from None
    if not isinstance(document, CommentedMap):
        raise YamlEditError("top level is not a mapping")
    return document


def read_update_version(data: bytes) -> tuple[str | None, str | None]:
    """The current (default_version, default_build); None where a key is missing."""
    update = _load(data).get("update")
    if not isinstance(update, dict):
        return None, None
    values = [update.get(key) for key in OWNED_KEYS]
    return tuple(None if value is None else str(value) for value in values)  # type: ignore[return-value]


def _quoted_like(old: Any, value: str) -> ScalarString:
    style: type[ScalarString] = (
        SingleQuotedScalarString if isinstance(old, SingleQuotedScalarString) else DoubleQuotedScalarString
    )
    quoted: ScalarString = style(value)
    return quoted


def set_update_version(data: bytes, version: str, build: str) -> bytes | None:
    """New file bytes with the owned keys set, or None when they already hold these values."""
    if read_update_version(data) == (version, build):
        return None
    document = _load(data)
    update = document.get("update")
    if update is None:
        update = CommentedMap()
        document["update"] = update
    if not isinstance(update, CommentedMap):
        raise YamlEditError("'update' is not a mapping")
    for key, value in zip(OWNED_KEYS, (version, build), strict=True):
        if str(update.get(key)) != value:
            update[key] = _quoted_like(update.get(key), value)
    out = io.BytesIO()
    _yaml().dump(document, out)
    return out.getvalue()
