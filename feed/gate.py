"""The beta gate as the VM's ``config.env`` states it.

Rules:
- Only an uncommented ``UPDATE_BETA_ENABLED=`` line counts, read with ``schemas.envfile``'s
  grammar (the reconciler's too, so both agree: ``export``, quotes, `` # comment``); the last
  such line wins, as in a shell.
- The beta feed is open only for ``true`` (any case). A missing file or key means closed; any other
  value also means closed, and is reported so a typo is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import GATE_KEY
from schemas.envfile import assignments

__all__ = ["GateReading", "read_gate"]


@dataclass(frozen=True, slots=True)
class GateReading:
    enabled: bool
    problem: str | None = None


def read_gate(text: str) -> GateReading:
    value: str | None = None
    for assignment in assignments(text.encode()):
        if assignment.key == GATE_KEY:
            value = assignment.value
    if value is None:
        return GateReading(enabled=False)
    lowered = value.strip().lower()
    if lowered == "true":
        return GateReading(enabled=True)
    if lowered == "false":
        return GateReading(enabled=False)
    return GateReading(enabled=False, problem=f"config.env: {GATE_KEY}={value!r} is neither true nor false")
