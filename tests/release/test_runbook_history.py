"""The runbook's ``./inv history`` example is what the task prints for the journal it shows."""

from __future__ import annotations

import re
from pathlib import Path

from schemas import Target
from tests.conftest import REPO, run_inv

JOURNAL = "".join(
    line + "\n"
    for line in (
        '{"at":"2026-12-01T09:12:03Z","who":"Dana Reyes","task":"publish","result":"ok","target":"sandbox",'
        '"channel":"beta","version":"2.0.0.16","detail":"3 uploaded; signed: yes"}',
        '{"at":"2026-12-01T09:14:40Z","who":"Dana Reyes","task":"staging.open","result":"ok",'
        '"target":"sandbox","channel":"beta","detail":"gate open"}',
        '{"at":"2026-12-02T16:01:19Z","who":"Dana Reyes","task":"promote","result":"failed",'
        '"target":"sandbox","channel":"stable","version":"2.0.0.16",'
        '"detail":"the VM did not answer; the desired state is saved in manifests/: run ./inv sync once the VM answers"}',
        '{"at":"2026-12-02T16:03:52Z","who":"Dana Reyes","task":"sync","result":"ok","target":"sandbox",'
        '"detail":"bundle 5f0c31d2a9e4"}',
    )
)


def _example() -> str:
    text = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- history example -->\n  ```\n  \$ ./inv history\n(.*?)  ```\n", text, re.S)
    assert match, "docs/runbook.md has no history example block"
    # The block sits in a list item: two spaces of indentation that the terminal does not print.
    return "".join(line.removeprefix("  ") for line in match.group(1).splitlines(keepends=True))


def test_the_runbook_history_example_is_the_real_output(sandbox_target: tuple[Target, Path]) -> None:
    target, target_file = sandbox_target
    (target.path(target.manifests_dir) / "release_log.jsonl").write_text(JOURNAL, encoding="utf-8")
    done = run_inv("history", "--target", str(target_file))
    assert done.returncode == 0, done.stderr
    assert done.stdout == _example()
