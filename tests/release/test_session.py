"""The one context a task opens: ``Session.open`` (lock, close) and ``session.change`` (journal)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from release.errors import CHECK_FAILED, ReleaseError
from release.parts.journal import LOCK_NAME, read_entries, workstation_lock
from release.parts.session import Session
from schemas import Channel, CheckResult, Target

from .helpers import sandbox_target


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return sandbox_target(tmp_path)


def test_the_context_closes_the_http_client_however_the_task_ends(target: Target) -> None:
    clients: list[httpx.Client] = []
    with Session.open(target, "status") as session:
        clients.append(session.http)
        assert not clients[-1].is_closed

    def stopped_midway() -> None:
        with Session.open(target, "status") as session:
            clients.append(session.http)
            raise ReleaseError("stopped midway")

    with pytest.raises(ReleaseError):
        stopped_midway()
    assert [client.is_closed for client in clients] == [True, True]


def test_a_state_changing_session_holds_the_workstation_lock_until_it_ends(target: Target) -> None:
    with Session.open(target, "publish", lock=True):
        assert target.path(LOCK_NAME).read_text().startswith("publish, pid ")
        with pytest.raises(ReleaseError) as caught, Session.open(target, "promote", lock=True):
            pass
        assert caught.value.code == CHECK_FAILED
        assert "another release task is running (publish, pid" in str(caught.value)
        with Session.open(target, "verify"):
            pass  # a read-only task never asks for the lock
    assert target.path(LOCK_NAME).read_bytes() == b""
    with workstation_lock(target, "sync"):
        pass  # released: the next task gets it


def test_a_dry_run_takes_no_lock(target: Target) -> None:
    with workstation_lock(target, "publish"):
        # Taking the lock here would raise "another release task is running": a dry run does not try.
        with Session.open(target, "promote", dry_run=True, lock=True) as session:
            assert session.dry_run
        assert b"publish" in target.path(LOCK_NAME).read_bytes(), "the holder's lock is untouched"


def test_a_change_writes_one_journal_line_with_what_the_task_filled_in(target: Target) -> None:
    with Session.open(target, "publish", lock=True) as session, session.change() as change:
        change.channel, change.version, change.fingerprint = Channel.BETA, "2.0.0.16", "f" * 64
        change.details.append("2 uploaded")
    (entry,) = read_entries(target)
    assert (entry.task, entry.result, entry.channel, entry.version) == (
        "publish",
        "ok",
        Channel.BETA,
        "2.0.0.16",
    )
    assert (entry.target, entry.detail) == (target.name, "2 uploaded")


def test_finish_checks_shows_emits_and_names_each_failure(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = [
        CheckResult(name="assets", ok=True, detail="match"),
        CheckResult(name="grpc", ok=False, detail="refused"),
        CheckResult(name="appcast", ok=False, detail="404"),
    ]
    with Session.open(target, "verify", json=True) as session, pytest.raises(ReleaseError) as caught:
        session.finish_checks("verify", checks, {"ok": False}, "verify failed")
    assert (str(caught.value), caught.value.code) == (
        "verify failed: grpc: refused; appcast: 404",
        CHECK_FAILED,
    )
    assert capsys.readouterr().out == '{"ok": false}\n'
    with Session.open(target, "verify") as session:
        session.finish_checks("verify stable", checks[:1], {"ok": True}, "verify failed")
    shown = capsys.readouterr().out
    assert "verify stable" in shown and "assets" in shown and "{" not in shown
