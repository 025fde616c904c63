"""The ``Remote`` protocol: run the reconciler's own CLI on the VM.

Rules every backend keeps:
- Each method is exactly one remote call (Azure Run Command takes 20-60 s a call and one at a
  time per VM), and the command it runs is idempotent, because a call may be delivered twice.
- The VM answers with one ``RESULT {json}`` line (the last one in the output wins); anything
  else in the output is diagnostics. A missing or unparsable result is a ``ReleaseError``.
- Payloads travel on the CLI's stdin, never in an argument; nothing secret is ever part of a
  payload or a result.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from schemas import Bundle, Status

from ..errors import CHECK_FAILED, ReleaseError

__all__ = ["AcceptResult", "Remote", "parse_result_line"]


class AcceptResult(BaseModel):
    """What ``reconciler accept`` printed: what it wrote, and whether the VM converged."""

    model_config = ConfigDict(extra="allow", frozen=True)

    ok: bool
    changed: list[str] = []
    desired_digest: str = ""
    converged: bool | None = None
    resources: dict[str, str] = {}
    error: str | None = None


class Remote(Protocol):
    def describe(self) -> str:
        """One line naming the VM (for plans and tables)."""

    def accept(self, bundle: Bundle, *, wait_s: float = 0.0) -> AcceptResult:
        """Send the desired bundle; with ``wait_s`` also wait for convergence on the VM."""

    def status(self) -> Status:
        """The reconciler's status document (sync, health, env key names)."""

    def diff(self) -> dict[str, Any]:
        """The reconciler's plan without applying it."""


def parse_result_line(output: str) -> dict[str, Any]:
    """The JSON of the last ``RESULT {json}`` line in ``output``."""
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            try:
                value = json.loads(line[len("RESULT ") :])
            except json.JSONDecodeError:
                break
            if isinstance(value, dict):
                return value
            break
    raise ReleaseError("the VM gave no RESULT line: the reconciler CLI did not finish", code=CHECK_FAILED)
