"""Two real ``publish`` processes started at once against one sandbox: the lock lets exactly one through.

Each racer is the real task program (``tasks.__main__.main``, what ``./inv`` runs) in its own
process in the repo root. Both import everything first and then block on stdin, so the test
releases them together and they reach the workstation lock within milliseconds of each other, while
a publish (preflight over HTTPS, hashing, uploads, a sync and a served wait) holds it for seconds.
This module has its own sandbox, so the race starts from a known state: beta published once and the
gate open.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.parts.journal import LOCK_NAME, read_entries
from schemas import Manifest

from ..conftest import REPO
from .helpers import make_artifacts, one_json, sha256, snapshot

pytestmark = pytest.mark.timeout(300)

MB = 1 << 20
V1, V2 = "2.0.0.15", "2.0.0.16"

# Everything a publish imports is loaded before the barrier, so neither racer gets a head start.
RACER = """
import sys
sys.path.insert(0, sys.argv[1])
from tasks.__main__ import main
import release.steps.publish, release.steps.preflight, release.outside.backends
sys.stdin.read(1)
main(["./inv", *sys.argv[2:]])
"""


def calls(box: Any) -> list[str]:
    return [call["method"] for call in box.remote_calls()]


def store_dir(box: Any, tag: str) -> Path:
    path: Path = sandbox_paths(box.target).store_root / tag
    return path


def race(box: Any, *args: str) -> list[tuple[int, int, str, str]]:
    """Start two identical task processes, release them together; (pid, exit, stdout, stderr) each."""
    argv = [sys.executable, "-c", RACER, str(REPO), *args, "--target", str(box.target_file)]
    logs = [(box.root / f"racer{i}.out", box.root / f"racer{i}.err") for i in range(2)]
    racers = []
    try:
        for out, err in logs:
            with out.open("w") as stdout, err.open("w") as stderr:
                racers.append(
                    subprocess.Popen(
                        argv,
                        stdin=subprocess.PIPE,
                        stdout=stdout,
                        stderr=stderr,
                        cwd=REPO,
                        env=dict(os.environ),
                    )
                )
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write(b"go")
            racer.stdin.close()
        codes = [racer.wait(timeout=240) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    results = [
        (racer.pid, code, out.read_text(), err.read_text())
        for racer, code, (out, err) in zip(racers, codes, logs, strict=True)
    ]
    for out, err in logs:
        out.unlink()
        err.unlink()
    return results


def test_two_publishes_at_once_one_proceeds_the_other_stops_with_one_line(sandbox: Any) -> None:
    sandbox.inv("bump", V1)
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {V1}\n\n- first\n")
    sandbox.inv("publish")
    sandbox.inv("staging.open")
    sandbox.inv("bump", V2)
    make_artifacts(sandbox.root, 8 * MB, 4 * MB, f"# Nexy {V2}\n\n- second\n")
    logged, counted = len(read_entries(sandbox.target)), len(calls(sandbox))

    results = race(sandbox, "publish", "--channel", "beta")

    codes = sorted(code for _, code, _, _ in results)
    assert codes == [0, 1], "\n".join(f"exit {c}\n{out}\n{err}" for _, c, out, err in results)
    (winner_pid, _, winner_out, _), (_, _, loser_out, loser_err) = sorted(results, key=lambda r: r[1])
    assert f"published beta {V2}" in winner_out
    lines = [line for line in loser_err.splitlines() if line.strip()]
    assert len(lines) == 1, f"the loser must say one line, said: {loser_err!r}"
    assert re.fullmatch(
        rf"error: another release task is running \(publish, pid {winner_pid}\); "
        r"wait for it to finish, then run publish again",
        lines[0],
    ), lines[0]
    assert loser_out.strip() == ""

    # One publish happened, completely: one journal line, one sync, the store and the manifest agree.
    entries = read_entries(sandbox.target)[logged:]
    assert [(e.task, e.result, e.version) for e in entries] == [("publish", "ok", V2)]
    assert calls(sandbox)[counted:] == ["accept"]
    beta = Manifest.model_validate_json((sandbox.root / "manifests" / "manifest_beta.json").read_bytes())
    inbox = sandbox.root / "release_inbox" / "beta"
    assert beta.version == V2 and entries[0].fingerprint == beta.fingerprint
    assert (
        sha256(store_dir(sandbox, "UpdateBeta") / "Nexy.dmg")
        == beta.artifact.sha256
        == sha256(inbox / "Nexy.dmg")
    )
    assert (
        sha256(store_dir(sandbox, "AppBeta") / "Nexy.pkg")
        == beta.installer.sha256
        == sha256(inbox / "Nexy.pkg")
    )
    for tag in ("UpdateBeta", "AppBeta"):
        assert not [p.name for p in store_dir(sandbox, tag).iterdir() if p.name.startswith(".")]
    assert (sandbox.root / LOCK_NAME).read_bytes() == b"", "the lock file still names a holder"
    sandbox.inv("verify", "--channel", "beta")


def test_the_same_publish_again_skips_every_upload(sandbox: Any) -> None:
    dmg = store_dir(sandbox, "UpdateBeta") / "Nexy.dmg"
    inode, logged = dmg.stat().st_ino, len(read_entries(sandbox.target))
    before = _state(sandbox)
    done = sandbox.inv("publish", "--json")
    document = one_json(done.stdout)
    assert document["ok"] and document["version"] == V2
    assert {u["action"] for u in document["uploads"]} == {"skipped (same sha256)"}
    assert dmg.stat().st_ino == inode and _state(sandbox) == before
    # A no-op reads as one (issue 19, point 4): said, journaled skip, nothing else changed.
    assert done.stderr.strip().splitlines()[-1].startswith(f"nothing changed (beta already is {V2} ")
    entry = read_entries(sandbox.target)[logged:][0]
    assert entry.result == "skip" and entry.detail.startswith("nothing changed (")
    assert "0 uploaded" in entry.detail.split("; ")


def _state(box: Any) -> dict[str, str]:
    """Every file of the tree, the store and the VM but the journal (which a no-op still appends to)."""
    return {name: digest for name, digest in snapshot(box.root).items() if "release_log" not in name}


@pytest.mark.parametrize(("task", "word"), [("staging.open", "open"), ("staging.close", "closed")])
def test_the_gate_set_as_it_already_is_says_nothing_changed(sandbox: Any, task: str, word: str) -> None:
    sandbox.inv(task)  # the gate is as the task asks from here on
    logged, before = len(read_entries(sandbox.target)), _state(sandbox)
    done = sandbox.inv(task)
    assert (
        done.stdout.strip().splitlines()[-1].startswith(f"nothing changed (the beta gate is already {word};")
    )
    entries = read_entries(sandbox.target)[logged:]
    assert [(e.task, e.result, e.detail) for e in entries] == [
        (task, "skip", f"gate {word}; nothing changed (the beta gate is already {word})")
    ]
    assert _state(sandbox) == before
    history = sandbox.inv("history", "--limit", "1").stdout
    assert "skip" in history and f"{task} beta skip: gate {word}; nothing changed" in history
