"""What the workstation reads from the reconciler CLI: the ``accept`` report, the ``diff`` plan, and
how either travels (one ``RESULT {json}`` line).

Rules:
- Each document is defined here once; the reconciler builds and prints it, the workstation parses
  and validates the same model (``release/outside/remote/base.py::parse_result_line``). The status document
  is ``schemas.status.Status``.
- Every field is always present on the wire (``model_dump_json()`` with no exclude policy): a None
  is ``null``, never a missing key, so both ends read one shape.
- Sync states use ``SyncState`` only; whether a resource is settled is ``SyncState.settled``.
- A RESULT line is small: Azure Run Command returns only the last 4,096 bytes of output, so every
  line is fitted into ``MAX_RESULT_BYTES`` (``schemas/fit.py``; names, digests and counts are
  bounded here) and a parser refuses a longer one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .status import Digest, Name, SyncState

__all__ = ["MAX_RESULT_BYTES", "RESULT_PREFIX", "AcceptReport", "PlanDocument", "PlanEntry", "StageReport"]

RESULT_PREFIX = "RESULT "
MAX_RESULT_BYTES = 4000
"""Bytes of one RESULT line, newline excluded (the extension's 4,096-byte tail, less framing)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AcceptReport(_Strict):
    """What ``reconciler accept`` printed: what it wrote, and whether the VM converged.

    ``waited_for``/``converged``/``resources`` are set only with ``--wait``; ``daemon`` is
    ``"not running"`` when accept committed the bundle itself (nothing applies it until the daemon
    starts); ``error`` is set whenever ``ok`` is false.
    """

    ok: bool
    changed: list[Name] = Field(default=[], max_length=8)
    desired_digest: Digest = ""
    error: str | None = None
    waited_for: Literal["daemon", "none"] | None = None
    daemon: Literal["not running"] | None = None
    converged: bool | None = None
    resources: dict[Name, SyncState] = Field(default={}, max_length=8)

    def behind(self) -> dict[str, SyncState]:
        """The resources that have not settled (what an unconverged accept waits for)."""
        return {name: state for name, state in self.resources.items() if not state.settled}


class StageReport(_Strict):
    """What a staging script printed: one part of a long bundle written whole on the VM."""

    ok: bool
    part: int
    bytes: int


class PlanEntry(_Strict):
    """One resource in ``reconciler diff``: its state and the files a pass would write."""

    state: SyncState
    expected: str = ""
    found: str = ""
    files: list[str] = []


class PlanDocument(_Strict):
    """What ``reconciler diff`` answers (``--result`` for the workstation, ``--json`` for people): the
    plan, computed without applying it."""

    in_sync: bool
    desired_digest: Digest
    resources: dict[Name, PlanEntry] = Field(default={}, max_length=8)
    mode: Literal["enforce", "observe"]

    def unsettled(self) -> list[str]:
        """Names of the resources a pass would change or cannot plan (drifted or error), sorted."""
        return sorted(name for name, entry in self.resources.items() if not entry.state.settled)
