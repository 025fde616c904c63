"""Edit the ``UPDATE_BETA_ENABLED`` line of ``config.env``; report which keys are present.

Rules: only active (uncommented) gate lines change, every other byte stays, including a
commented-out gate line and the file's line endings. A missing gate line is appended. Values are
compared after removing surrounding quotes, so ``"true"`` already counts as true. Values of other
keys are never returned, only whether a key is set.
"""

from __future__ import annotations

import re

from schemas import GATE_KEY

__all__ = ["gate_value", "present_keys", "set_gate"]

_ASSIGN = re.compile(rb"^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(.*?)(\r?)$", re.MULTILINE)


def _unquote(raw: bytes) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[:1] == value[-1:] and value[:1] in (b'"', b"'"):
        value = value[1:-1]
    return value.decode("utf-8", "replace").strip()


def gate_value(data: bytes) -> str | None:
    """The effective gate value ("true"/"false"/other), the last active line winning; None if absent."""
    value = None
    for match in _ASSIGN.finditer(data):
        if match.group(1).decode() == GATE_KEY:
            value = _unquote(match.group(2)).lower()
    return value


def set_gate(data: bytes, enabled: bool) -> bytes | None:
    """New file bytes with the gate set, or None when it already holds this value."""
    want = "true" if enabled else "false"
    if gate_value(data) == want:
        return None
    found = False

    def replace(match: re.Match[bytes]) -> bytes:
        nonlocal found
        if match.group(1).decode() != GATE_KEY:
            return match.group(0)
        found = True
        return match.group(0)[: match.start(2) - match.start(0)] + want.encode() + match.group(3)

    edited = _ASSIGN.sub(replace, data)
    if found:
        return edited
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += newline
    return data + f"{GATE_KEY}={want}".encode() + newline


def present_keys(data: bytes, keys: tuple[str, ...]) -> dict[str, bool]:
    """Which of ``keys`` are assigned a non-empty value (names only, never values)."""
    present = {match.group(1).decode() for match in _ASSIGN.finditer(data) if _unquote(match.group(2))}
    return {key: key in present for key in keys}
