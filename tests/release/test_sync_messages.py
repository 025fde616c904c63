"""What ``sync`` says for each answer the VM can give to ``accept --wait`` (the VM's answer is
given directly here: the remote is the one thing outside this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.parts.session import Session
from release.steps.flow import sync
from schemas import AcceptReport, Bundle, SyncState

from .helpers import sandbox_target


class AnsweringRemote:
    def __init__(self, report: AcceptReport) -> None:
        self.report = report
        self.sent: list[Bundle] = []

    def describe(self) -> str:
        return "the test VM"

    def accept(self, bundle: Bundle, *, wait_s: float = 0.0) -> AcceptReport:
        self.sent.append(bundle)
        return self.report


def _sync(tmp_path: Path, report: AcceptReport) -> str:
    with Session.open(sandbox_target(tmp_path), "sync") as session:
        session._remote = AnsweringRemote(report)  # type: ignore[assignment]
        with pytest.raises(ReleaseError) as caught:
            sync(session, wait_s=5)
    return str(caught.value)


def test_an_unconverged_vm_names_what_is_behind(tmp_path: Path) -> None:
    report = AcceptReport(
        ok=True,
        converged=False,
        waited_for="daemon",
        resources={"stable": SyncState.IN_SYNC, "gate": SyncState.DRIFTED},
    )
    message = _sync(tmp_path, report)
    assert "did not converge within 5s: gate=drifted;" in message and "stable" not in message


def test_an_unconverged_vm_with_everything_settled_says_why_instead_of_nothing(tmp_path: Path) -> None:
    report = AcceptReport(
        ok=True, converged=False, waited_for="daemon", resources={"stable": SyncState.HEALED}
    )
    message = _sync(tmp_path, report)
    assert "within 5s: every resource settled, but the VM still reports the previous desired state" in message
    assert ": ;" not in message
