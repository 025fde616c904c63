"""One row of the check registry (``release.steps.checks``).

Rules:
- A row is data: its name, the stages it is asked on, the function that answers it, the endpoints
  it reads (``needs``), why it is skipped (``cause``: an empty string means it is asked), whether
  the target has it (``applies``), and, for a row that calls out of the house, the ``plan`` a dry run
  shows instead of calling.
- A row answers one ``CheckResult`` (named after the row) or several; ``names`` then lists them
  beforehand, so a dry run shows the same names the real run prints (a skipped row or one that
  raised a ReleaseError answers one row per listed name). A row without ``names`` answering
  several (preflight's archive rows, named by what the archives hold) is only ever run: preflight's
  dry run is its real run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from schemas import CheckResult

__all__ = ["Plan", "Row", "check", "skipped"]


@dataclass(frozen=True)
class Plan:
    """What a dry run says instead of calling out: the line, and whether the call could be made."""

    line: str
    ok: bool


def _always(_subject: Subject) -> bool:
    return True


def _nothing(_subject: Subject) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Row:
    """One check, asked on ``stages`` (see the module's rules for each field)."""

    name: str
    run: Callable[[Subject], CheckResult | list[CheckResult]]
    stages: frozenset[Stage]
    needs: Callable[[Subject], tuple[str, ...]] = _nothing
    cause: Callable[[Subject], str] | None = None
    applies: Callable[[Subject], bool] = _always
    names: Callable[[Subject], tuple[str, ...]] | None = None
    plan: Callable[[Subject], Plan] | None = None

    def listed(self, subject: Subject) -> tuple[str, ...]:
        """The names of the results this row answers with."""
        return self.names(subject) if self.names is not None else (self.name,)

    def why_skipped(self, subject: Subject) -> str:
        """Why the row is not asked: its own ``cause``, or else the endpoints it reads that are silent."""
        if self.cause is not None:
            return self.cause(subject)
        silent = subject.reach.silent(self.needs(subject))
        return f"{', '.join(silent)} did not answer" if silent else ""


def check(name: str, ok: bool, detail: str) -> CheckResult:
    return CheckResult(name=name, ok=ok, detail=detail[:300])


def skipped(name: str, cause: str) -> CheckResult:
    return CheckResult(name=name, ok=False, skipped=True, detail=f"skipped: {cause}")
