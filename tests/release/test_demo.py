"""``./inv demo`` end to end in a tmp root (the repo tree stays clean), sandbox started and stopped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from release.parts.journal import read_entries
from release.sandbox import down
from schemas import Target

from ..conftest import REPO, run_inv


def _table_rows(text: str) -> list[tuple[str, str]]:
    """(first cell, mark) of every table line that starts a cell in the first column."""
    rows = []
    for line in text.splitlines():
        if line.startswith("│ "):
            cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
            if cells[0]:
                rows.append((cells[0], cells[1] if len(cells) == 3 else cells[-1]))
    return rows


# The lines of a plan and of a no-op, which the runbook shows as the demo prints them.
_PLAN = re.compile(r"^(plan: |dry run: |skip: |nothing changed)")


def _plan_lines(text: str, root: Path | None = None) -> list[str]:
    """The plan and no-op lines, with what differs between two runs put in words: the target's
    root (the runbook's demo runs in the checkout), ports, digests and signatures."""
    lines = []
    for line in text.splitlines():
        if not _PLAN.match(line):
            continue
        if root is not None:
            line = line.replace(f"{root}/", "")
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        line = re.sub(r"\b[0-9a-f]{12}\b", "DIGEST", line)
        lines.append(re.sub(r"(dmg|pkg) \S{16}…", r"\1 SIGNATURE…", line))
    return lines


def _runbook_transcript() -> str:
    text = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    start = text.index("1. sandbox up: reconciler")
    return text[start : text.index("```", start)]


@pytest.mark.timeout(400)
def test_demo_runs_the_whole_release_and_heals_a_hand_edit(sandbox_target: tuple[Target, Path]) -> None:
    target, target_file = sandbox_target
    try:
        done = run_inv("demo", "--size-mb", "16", "--no-keep", "--target", str(target_file), timeout=360)
    finally:
        down(target)
    assert done.returncode == 0, f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    out = done.stdout
    for step in (
        "publish --channel beta",
        "staging.open",
        "staging.validate",
        "promote",
        "verify",
        "staging.close",
    ):
        assert f"$ ./inv {step}" in out
    assert "verified: stable 2.0.0.15" in out
    assert target.grpc is not None
    # The grpc rows pass on both secure ports: preflight and verify (production), validate (staging).
    grpc_rows = re.findall(r"│ grpc +│ (\S) │ (production|staging) (\S+) \(TLS\)", out)
    assert grpc_rows == [
        ("✓", "production", target.grpc.production.endpoint),
        ("✓", "staging", target.grpc.staging.endpoint),
        ("✓", "production", target.grpc.production.endpoint),
    ]
    # The signature rows pass in validate and verify: the served dmg and pkg verify with the app's key.
    signature_rows = re.findall(
        r"│ signature +│ (\S) │ (Nexy\.dmg, Nexy\.pkg): served bytes verify with", out
    )
    assert signature_rows == [("✓", "Nexy.dmg, Nexy.pkg"), ("✓", "Nexy.dmg, Nexy.pkg")]
    assert re.search(r"healed in \d+ ms: manifest.json has its desired bytes again", out)
    firing = next(line for line in out.splitlines() if line.startswith("  [firing]"))
    assert "drift on stable" in firing
    assert "artifact.size=" in firing  # the alert names the field the hand edit changed
    assert any(line.startswith("  [resolved]") for line in out.splitlines())
    assert f"curl --cacert {target.path(target.ca_bundle or '')}" in out
    assert "demo done" in out
    # The runbook's transcript is this output: the same tables, row by row, with the same marks.
    assert _table_rows(_runbook_transcript()) == _table_rows(out)
    # And its promote dry run and no-op are this output, line by line (issue 19.3, 19.4).
    assert _plan_lines(_runbook_transcript()) == _plan_lines(out, target.root)
    assert "plan: copy UpdateBeta/Nexy.dmg → Update/Nexy.dmg" in out
    assert "nothing changed (stable already is 2.0.0.15)" in out
    results = [(entry.task, entry.result) for entry in read_entries(target)]
    assert results == [
        ("publish", "ok"),
        ("staging.open", "ok"),
        ("staging.validate", "ok"),
        ("promote", "ok"),
        ("promote", "skip"),
        ("staging.close", "ok"),
    ]
    assert (target.path("manifests") / "manifest_2.0.0.15.json").is_file()
