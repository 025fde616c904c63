"""One check registry (release/steps/checks): each stage's dry run lists the rows its real run
shows, in the same order, and a row registered for one stage shows in no other."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from release.errors import ReleaseError
from release.parts.desired import beta_path, stable_path, write
from release.parts.session import Session
from release.steps.checks import registry
from release.steps.checks.row import Row
from release.steps.checks.stage import Stage
from release.steps.checks.subject import Subject
from release.steps.preflight import run_preflight
from release.steps.staging import validate
from release.steps.verify import verify
from schemas import Channel, CheckResult, Target

from ..feed.feedkit import make_manifest
from .helpers import sandbox_target

STAGES = tuple(Stage)


@pytest.fixture
def target(tmp_path: Path) -> Target:
    loaded = sandbox_target(tmp_path)
    write(stable_path(loaded), make_manifest("2.0.0.15"))
    write(beta_path(loaded), make_manifest("2.0.0.16", "beta"))
    return loaded


def _shown(target: Target, capsys: pytest.CaptureFixture[str], stage: Stage, dry_run: bool) -> list[str]:
    """The row names the stage's own command shows, dry or real (a failed run still shows its table)."""
    capsys.readouterr()
    with (
        Session.open(target, stage.value, json=True, dry_run=dry_run) as session,
        contextlib.suppress(ReleaseError),
    ):
        if stage in (Stage.PREFLIGHT, Stage.PUBLISH):
            return [c.name for c in run_preflight(session, Channel.BETA, vm=stage is Stage.PREFLIGHT)]
        if stage is Stage.STAGING:
            validate(session)
        else:
            verify(session, Channel.STABLE if stage is Stage.STABLE else Channel.BETA)
    document = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    checks: list[str | dict[str, str]] = document["checks"]
    return [c if isinstance(c, str) else c["name"] for c in checks]


@pytest.mark.parametrize("stage", STAGES, ids=[stage.name for stage in STAGES])
def test_the_dry_run_lists_what_the_real_run_shows(
    target: Target, capsys: pytest.CaptureFixture[str], stage: Stage
) -> None:
    planned = _shown(target, capsys, stage, dry_run=True)
    assert planned == _shown(target, capsys, stage, dry_run=False)
    assert len(set(planned)) == len(planned), "a name shows once per stage"
    if stage is not Stage.PREFLIGHT and stage is not Stage.PUBLISH:
        # Preflight's archive rows are named by what the archives hold; the others by the table.
        with Session.open(target, stage.value, json=True) as session:
            channel = Channel.STABLE if stage is Stage.STABLE else Channel.BETA
            manifest = (
                make_manifest("2.0.0.15") if stage is Stage.STABLE else make_manifest("2.0.0.16", "beta")
            )
            rows = registry.rows_for(Subject(session, stage, channel, manifest))
        assert [row.name for row in rows] == [row.name for row in registry.ROWS if stage in row.stages]


def test_a_row_registered_for_one_stage_shows_in_no_other(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, Stage]] = []

    def row(name: str, *stages: Stage) -> Row:
        def answer(subject: Subject) -> CheckResult:
            asked.append((name, subject.stage))
            return CheckResult(name=name, ok=True, detail="answered")

        return Row(name, answer, frozenset(stages))

    rows = (
        row("preflight only", Stage.PREFLIGHT),
        row("every preflight", Stage.PREFLIGHT, Stage.PUBLISH),
        row("staging only", Stage.STAGING),
        row("stable only", Stage.STABLE),
        row("beta only", Stage.BETA),
    )
    monkeypatch.setattr(registry, "ROWS", rows)
    for stage in STAGES:
        want = [r.name for r in rows if stage in r.stages]
        asked.clear()
        if stage not in (Stage.PREFLIGHT, Stage.PUBLISH):
            assert _shown(target, capsys, stage, dry_run=True) == want
            assert asked == []  # a dry run of verify or staging asks nothing
        assert _shown(target, capsys, stage, dry_run=False) == want
        assert asked == [(name, stage) for name in want]


def test_a_row_that_raises_fails_each_name_it_lists(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(_subject: Subject) -> list[CheckResult]:
        raise ReleaseError("the store cannot be asked")

    pair = Row("pair", unreachable, frozenset({Stage.STABLE}), names=lambda _s: ("first half", "second half"))
    monkeypatch.setattr(registry, "ROWS", (pair,))
    assert _shown(target, capsys, Stage.STABLE, dry_run=True) == ["first half", "second half"]
    with Session.open(target, "verify", json=True) as session, pytest.raises(ReleaseError) as caught:
        verify(session, Channel.STABLE)
    rows = json.loads(capsys.readouterr().out)["checks"]
    assert [(r["name"], r["ok"], r["detail"]) for r in rows] == [
        ("first half", False, "the store cannot be asked"),
        ("second half", False, "the store cannot be asked"),
    ]
    assert str(caught.value) == (
        "verify failed: first half: the store cannot be asked; second half: the store cannot be asked"
    )
