"""Round-trip edit of ``update.default_version`` / ``update.default_build`` in ``unified_config.yaml``.

Rules: the file belongs to the server team; only the two owned keys may change.
- When both keys are plain or quoted scalars written in ``update:`` itself, only the bytes of
  those values are replaced, at the positions the YAML parser reports: every other byte
  (indentation, line endings, ``---``, ``~``, a byte order mark, a missing final newline) stays,
  and each new value keeps the quote style of the one it replaces.
- Otherwise (a key missing, a value from a merge key or an anchor/alias, a block scalar) the
  document goes through ruamel's round-trip mode, which keeps comments, key order, anchors, merge
  keys, flow style and quoting; a new key gets double quotes.
- Either way the result is parsed again and must hold exactly the wanted values.
- Callers check the document's depth first (``schemas.bounded.check_yaml_depth``); errors here
  name a key or an error type, never a value from the file.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString, SingleQuotedScalarString

from schemas.vmconfig import UpdateKeysError, read_update_keys

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
    try:
        keys = read_update_keys(data)
    except UpdateKeysError as exc:
        raise YamlEditError(str(exc)) from None
    return keys.version, keys.build


def _quoted_like(old: Any, value: str) -> ScalarString:
    style: type[ScalarString] = (
        SingleQuotedScalarString if isinstance(old, SingleQuotedScalarString) else DoubleQuotedScalarString
    )
    quoted: ScalarString = style(value)
    return quoted


def _value_node(mapping: MappingNode, key: str) -> Node | None:
    return next((v for k, v in mapping.value if isinstance(k, ScalarNode) and k.value == key), None)


def _splice(data: bytes, version: str, build: str) -> bytes | None:
    """Replace just the two values' bytes, or None when the file is not that simple."""
    try:
        text = data.decode("utf-8")
        root = _yaml().compose(text)
    except (UnicodeDecodeError, YAMLError):
        return None
    update = _value_node(root, "update") if isinstance(root, MappingNode) else None
    if not isinstance(update, MappingNode) or update.anchor is not None:
        return None
    edits: list[tuple[int, int, str]] = []
    for key, value in zip(OWNED_KEYS, (version, build), strict=True):
        node = _value_node(update, key)
        # An anchored value is shared (or an alias points elsewhere): editing it in place would
        # change other keys too.
        if not isinstance(node, ScalarNode) or node.anchor is not None or node.style not in (None, '"', "'"):
            return None
        if node.value != value:
            quote = node.style or ""
            edits.append((node.start_mark.index, node.end_mark.index, f"{quote}{value}{quote}"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    spliced = text.encode("utf-8")
    return spliced if read_update_version(spliced) == (version, build) else None


def set_update_version(data: bytes, version: str, build: str) -> bytes | None:
    """New file bytes with the owned keys set, or None when they already hold these values."""
    if read_update_version(data) == (version, build):
        return None
    spliced = _splice(data, version, build)
    if spliced is not None:
        return spliced
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
    if read_update_version(out.getvalue()) != (version, build):
        raise YamlEditError("the edited document does not read back with the new values")
    return out.getvalue()
