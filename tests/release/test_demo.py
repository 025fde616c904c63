"""``./inv demo`` end to end in a tmp root (the repo tree stays clean), sandbox started and stopped.

The demo runs once in this module, on a build ``vm.install`` put in the sandbox (issue 22: the
sandbox runs the VM side from it): one test reads that run's output against docs/runbook.md, the
other goes on from it to ``sandbox.up`` and ``vm.upgrade``. The runbook's tables and plan lines are
the same on an installed build as on the checkout (only the ``VM side`` row's detail differs, and
the runbook comparison reads each row's name and mark).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from release.outside.sandbox_layout import SandboxPaths, sandbox_paths
from release.parts.journal import read_entries
from release.sandbox import down
from release.sandbox.procs import running
from schemas import Target

from ..conftest import REPO, run_inv, write_sandbox_target
from .helpers import copy_source

pytestmark = pytest.mark.timeout(900)


@dataclass
class Demo:
    """The module's one demo run: its target, the build vm.install made, the demo's output and the
    journal as the demo left it (the upgrade test writes more lines after)."""

    target: Target
    target_file: Path
    build: str
    done: subprocess.CompletedProcess[str]
    journal: list[tuple[str, str]]


def _inv_json(*args: str) -> tuple[int, dict[str, object], str]:
    done = run_inv(*args, "--json", timeout=400)
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, document, done.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``vm.install`` then ``./inv demo --size-mb 16 --no-keep`` (the runbook's size) in a tmp root."""
    target, target_file = write_sandbox_target(tmp_path_factory.mktemp("demo") / "box")
    where = ("--target", str(target_file))
    try:
        code, first, err = _inv_json("vm.install", *where)
        assert code == 0, err
        done = run_inv("demo", "--size-mb", "16", "--no-keep", *where, timeout=400)
        journal = [(entry.task, entry.result) for entry in read_entries(target)]
        yield Demo(target, target_file, str(first["build"]), done, journal)
    finally:
        down(target)


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


def test_demo_runs_the_whole_release_and_heals_a_hand_edit(demo: Demo) -> None:
    target, done = demo.target, demo.done
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
    assert demo.journal == [
        ("vm.install", "ok"),
        ("publish", "ok"),
        ("staging.open", "ok"),
        ("staging.validate", "ok"),
        ("promote", "ok"),
        ("promote", "skip"),
        ("staging.close", "ok"),
    ]
    assert (target.path("manifests") / "manifest_2.0.0.15.json").is_file()


def _argv0(paths: SandboxPaths) -> dict[str, str]:
    """The interpreter each VM-side process of the sandbox runs under (from its pid file)."""
    found = {}
    for name in ("reconciler", "production-feed", "staging-feed"):
        record = running(paths.run_dir / f"{name}.pid")
        assert record is not None, f"{name} is not running"
        found[name] = record.argv[0]
    return found


def _vm_side_row(where: tuple[str, ...]) -> dict[str, object]:
    done = run_inv("preflight", "--json", *where)
    rows = {row["name"]: row for row in json.loads(done.stdout)["checks"]}
    return {"ok": rows["VM side"]["ok"], "detail": rows["VM side"]["detail"]}


def test_the_demo_runs_on_the_installed_build_and_an_upgrade_restarts_it(demo: Demo, tmp_path: Path) -> None:
    """Issue 22: ``vm.install`` then ``./inv demo``; the sandbox runs the VM side from the build
    (as systemd runs /opt/nexy-release/current), and ``vm.upgrade`` restarts it onto the new one."""
    target, build = demo.target, demo.build
    paths = sandbox_paths(target)
    where = ("--target", str(demo.target_file))
    assert demo.done.returncode == 0, f"--- stdout\n{demo.done.stdout}\n--- stderr\n{demo.done.stderr}"
    assert f"VM side: build {build} (installed by vm.install in {paths.vm_opt})" in demo.done.stdout
    assert "verified: stable 2.0.0.15" in demo.done.stdout
    try:
        up = run_inv("sandbox.up", *where)
        assert up.returncode == 0, up.stderr
        python = str(paths.vm_opt / build / "venv" / "bin" / "python")
        assert set(_argv0(paths).values()) == {python}
        assert _vm_side_row(where) == {"ok": True, "detail": f"build {build}, this checkout's"}
        changed = copy_source(tmp_path / "changed")
        with (changed / "feed" / "__init__.py").open("a") as handle:
            handle.write("# a changed build\n")
        code, upgraded, err = _inv_json("vm.upgrade", *where, "--source", str(changed))
        assert code == 0, err
        new = str(upgraded["build"])
        assert "restarting the sandbox onto the new build" in err
        assert set(_argv0(paths).values()) == {str(paths.vm_opt / new / "venv" / "bin" / "python")}
        status = run_inv("sandbox.status", "--json", *where)
        assert json.loads(status.stdout)["vm_build"] == new
        # Preflight's row: the VM no longer runs what this checkout builds.
        assert _vm_side_row(where) == {
            "ok": False,
            "detail": f"the VM runs {new}, this checkout builds {build}: ./inv vm.upgrade",
        }
    finally:
        down(target)
