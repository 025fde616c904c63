"""The lines of ``config.env`` as bytes: edit the ``UPDATE_BETA_ENABLED`` line; report which keys are
present. ``envgate`` carries the edit out on the file itself.

Rules: lines are read with ``schemas.envfile``'s grammar, the same one the feed uses, so both
sides agree on what the gate says. Only the values of active gate lines change: their quotes,
spacing, comments and line endings, a commented-out gate line and every other byte stay. A missing
gate line is appended. Values compare case-insensitively without quotes, so ``"TRUE"`` already
counts as true. Values of other keys are never returned, only whether a key is set.
"""

from __future__ import annotations

from schemas import GATE_KEY
from schemas.envfile import assignments
from schemas.vmconfig import gate_value

__all__ = ["gate_value", "present_keys", "set_gate"]


def set_gate(data: bytes, enabled: bool) -> bytes | None:
    """New file bytes with the gate set, or None when it already holds this value."""
    want = "true" if enabled else "false"
    if gate_value(data) == want:
        return None
    spans = [(a.start, a.end) for a in assignments(data) if a.key == GATE_KEY]
    if spans:
        edited = data
        for start, end in reversed(spans):
            edited = edited[:start] + want.encode() + edited[end:]
        return edited
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += newline
    return data + f"{GATE_KEY}={want}".encode() + newline


def present_keys(data: bytes, keys: tuple[str, ...]) -> dict[str, bool]:
    """Which of ``keys`` are assigned a non-empty value (names only, never values)."""
    present = {a.key for a in assignments(data) if a.value.strip()}
    return {key: key in present for key in keys}
