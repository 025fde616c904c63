"""The beta gate as the VM's ``config.env`` states it.

Rules:
- Only an uncommented ``UPDATE_BETA_ENABLED=`` line counts (an optional ``export`` prefix and
  quotes are allowed, as a shell would read them); the last such line wins, as in a shell.
- The beta feed is open only for ``true`` (any case). A missing file or key means closed; any other
  value also means closed, and is reported so a typo is noticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas import GATE_KEY

__all__ = ["GateReading", "read_gate"]

_LINE = re.compile(rf"^\s*(?:export\s+)?{GATE_KEY}\s*=\s*(?P<value>.*?)\s*$")


@dataclass(frozen=True, slots=True)
class GateReading:
    enabled: bool
    problem: str | None = None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    # An unquoted value ends at a shell comment.
    return value.split(" #", 1)[0].strip()


def read_gate(text: str) -> GateReading:
    value: str | None = None
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            value = _unquote(match.group("value"))
    if value is None:
        return GateReading(enabled=False)
    lowered = value.strip().lower()
    if lowered == "true":
        return GateReading(enabled=True)
    if lowered == "false":
        return GateReading(enabled=False)
    return GateReading(enabled=False, problem=f"config.env: {GATE_KEY}={value!r} is neither true nor false")
