"""The ``Remote`` protocol: run the reconciler's own CLI on the VM, and read its one answer.

Rules every backend keeps:
- Each method is exactly one remote call (Azure Run Command takes 20-60 s a call and one at a
  time per VM), and the command it runs is idempotent, because a call may be delivered twice.
- The VM answers with one ``RESULT {json}`` line (the last one in the output wins); anything
  else in the output is diagnostics. Every backend reads it with ``parse_result_line`` into the
  ``schemas`` model of that command (``AcceptReport``, ``Status``, ``PlanDocument``); a missing,
  unparsable, oversized or wrongly shaped result is a ``ReleaseError``.
- Payloads travel on the CLI's stdin, never in an argument; nothing secret is ever part of a
  payload or a result.
"""

from __future__ import annotations

import json
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from release.errors import CHECK_FAILED, ReleaseError
from schemas import MAX_RESULT_BYTES, RESULT_PREFIX, AcceptReport, Bundle, PlanDocument, Status

__all__ = ["WRAPPER", "Remote", "ResultLineError", "parse_result_line"]

WRAPPER = "nexy-release"
"""``script`` of the RESULT a Run Command script prints itself when the CLI died without one."""

Document = TypeVar("Document", bound=BaseModel)


class Remote(Protocol):
    def describe(self) -> str:
        """One line naming the VM (for plans and tables)."""

    def accept(self, bundle: Bundle, *, wait_s: float = 0.0) -> AcceptReport:
        """Send the desired bundle; with ``wait_s`` also wait for convergence on the VM."""

    def status(self) -> Status:
        """The reconciler's status document (sync, health, env key names)."""

    def diff(self) -> PlanDocument:
        """The reconciler's plan without applying it."""

    def run_script(
        self, command: str, script: list[str], model: type[Document], extra_s: float = 0.0
    ) -> Document:
        """One whole script of ours (``vm.install``'s: it sets the VM side up, so it cannot go
        through the reconciler CLI); its last RESULT line as ``model``."""


class ResultLineError(ReleaseError):
    """No RESULT line (``missing``), one that is not a small JSON object (``garbled``), or the
    failure a Run Command script reports when the CLI died without its answer (``wrapper``)."""

    def __init__(self, message: str, kind: Literal["missing", "garbled", "wrapper"]) -> None:
        super().__init__(message, CHECK_FAILED)
        self.kind = kind


def parse_result_line(output: str, model: type[Document], command: str) -> Document:
    """The last ``RESULT {json}`` line of ``output``, validated as ``model`` (``command`` names it
    in errors). An earlier RESULT line never stands in for a broken last one."""
    line = next((line for line in reversed(output.splitlines()) if line.startswith(RESULT_PREFIX)), None)
    if line is None:
        raise ResultLineError("the VM gave no RESULT line: the reconciler CLI did not finish", "missing")
    if len(line.encode()) > MAX_RESULT_BYTES:
        raise ResultLineError(
            f"reconciler {command}: the RESULT line is over {MAX_RESULT_BYTES} bytes", "garbled"
        )
    try:
        document = json.loads(line[len(RESULT_PREFIX) :])
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise ResultLineError(f"reconciler {command}: the RESULT line is not a JSON object", "garbled")
    if document.get("script") == WRAPPER:
        raise ResultLineError(str(document.get("error", "no answer"))[:300], "wrapper")
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "document"
        raise ReleaseError(
            f"reconciler {command} printed a RESULT that does not match {model.__name__} ({where}: {error['msg']})",
            CHECK_FAILED,
        ) from None
