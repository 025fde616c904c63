"""A plan: what a state-changing task will do, action by action, each marked do or skip.

Rules:
- Built once, from the state before anything changes, and read twice: the dry run prints it and
  stops; the real run executes it action by action. Both put it in their report (``plan``), so the
  dry run and the run after it can be compared skip for skip (issue 19.3).
- An action is ``do``, ``skip`` (with why: it is already so) or ``check``: decided by the transfer
  itself because the state cannot be read beforehand (a store that reports no digest).
- A ``note`` says something true of the plan that is no action of its own (the signatures a
  manifest write carries, the update controls it sets).
- Each action has a ``key`` the real run asks for (``wants``), so the run does what the plan says
  rather than deciding a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Action", "Mode", "Plan"]

Mode = Literal["do", "skip", "check", "note"]


@dataclass(frozen=True, slots=True)
class Action:
    key: str
    text: str
    mode: Mode = "do"
    why: str = ""

    def line(self) -> str:
        if self.mode == "skip":
            return f"skip: {self.text} ({self.why})"
        if self.mode == "check":
            return f"{self.text}, unless {self.why}"
        return self.text

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "mode": self.mode, "text": self.text, "why": self.why}


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...]

    def lines(self) -> list[str]:
        return [action.line() for action in self.actions]

    def as_json(self) -> list[dict[str, Any]]:
        return [action.as_json() for action in self.actions]

    def get(self, key: str) -> Action:
        found = next((action for action in self.actions if action.key == key), None)
        if found is None:
            raise KeyError(f"the plan has no action {key!r}")
        return found

    def wants(self, key: str) -> bool:
        """True when the run must carry out ``key`` (do, or check: the transfer decides)."""
        return self.get(key).mode in ("do", "check")

    def changes_nothing(self) -> bool:
        """Every action that changes state is a skip (what is left only reads or sends the same)."""
        return all(action.mode in ("skip", "note") for action in self.actions if action.key not in _READS)


# The sync is one remote call whatever the plan (a VM that missed the last one converges), and the
# wait only reads: neither makes a plan a change.
_READS = frozenset({"sync", "wait"})
