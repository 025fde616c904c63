"""verify's checks are the registry's rows: the dry run lists them, the real run runs them, in the same order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.parts.desired import stable_path, write
from release.parts.session import Session
from release.steps.checks import registry
from release.steps.checks.row import Row
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from release.steps.verify import verify
from schemas import Channel, CheckResult, Target

from ..feed.feedkit import make_manifest
from .helpers import sandbox_target


@pytest.fixture
def target(tmp_path: Path) -> Target:
    loaded = sandbox_target(tmp_path)
    write(stable_path(loaded), make_manifest("2.0.0.15"))
    return loaded


def _dry_run_names(target: Target, capsys: pytest.CaptureFixture[str], channel: Channel) -> list[str]:
    with Session.open(target, "verify", json=True, dry_run=True) as session:
        verify(session, channel)
    names: list[str] = json.loads(capsys.readouterr().out)["checks"]
    return names


def _table(stage: Stage) -> list[str]:
    return [row.name for row in registry.ROWS if stage in row.stages]


def test_the_dry_run_lists_the_table_in_order(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert _dry_run_names(target, capsys, Channel.STABLE) == _table(Stage.STABLE)
    assert _table(Stage.BETA) == [name for name in _table(Stage.STABLE) if name != "repo pair"]


def test_a_new_row_is_one_entry_read_by_both_runs(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def row(name: str, ok: bool) -> Row:
        def answer(subject: Subject) -> CheckResult:
            seen.append(f"{name} {subject.channel.value} {subject.manifest.version}")
            return CheckResult(name=name, ok=ok, detail="answered")

        return Row(name, answer, frozenset({Stage.STABLE}))

    monkeypatch.setattr(registry, "ROWS", (row("first", True), row("second", False)))
    assert _dry_run_names(target, capsys, Channel.STABLE) == ["first", "second"]
    assert seen == []  # a dry run asks nothing
    with Session.open(target, "verify", json=True) as session, pytest.raises(ReleaseError) as caught:
        verify(session, Channel.STABLE)
    assert seen == ["first stable 2.0.0.15", "second stable 2.0.0.15"]
    report = json.loads(capsys.readouterr().out)
    assert [check["name"] for check in report["checks"]] == ["first", "second"]
    assert str(caught.value) == "verify failed: second: answered"
