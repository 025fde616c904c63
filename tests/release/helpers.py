"""Helpers for the pipeline's integration tests (artifacts, snapshots, JSON output, polling)."""

from __future__ import annotations

import hashlib
import json
import plistlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.parts.archives.sample import make_dmg, make_pkg
from release.parts.inspection import notes_heading
from release.parts.target import load_target
from schemas import Target, atomic_write
from tests.conftest import REPO

# Volatile by design: process bookkeeping and logs, the reconciler's own status file, the
# remote-call counter and the (empty, git-ignored) workstation lock file a real run opens.
# Everything else (tree, store, VM runtime files) must be byte-identical.
VOLATILE = (
    "/.sandbox/logs/",
    "/.sandbox/run/",
    "/.sandbox/vm/state/",
    "/.sandbox/remote_calls.jsonl",
    "/.release.lock",
)


def sandbox_target(root: Path) -> Target:
    """The sandbox target with its root at ``root``, for tests that run release code in-process.

    The sandbox's CA exists only once it is up; the system trust serves a client these tests never use."""
    repo = Path(__file__).resolve().parents[2]
    path = root / "t.yaml"
    text = (repo / "targets" / "sandbox.yaml").read_text(encoding="utf-8")
    path.write_text(text + f"\nroot: {root}\n", encoding="utf-8")
    return load_target(str(path), repo).model_copy(update={"ca_bundle": None})


def write_archives(root: Path, version: str, dmg: int, pkg: int, **info: Any) -> tuple[bytes, bytes]:
    """A real Nexy.dmg and Nexy.pkg of ``version`` in the beta inbox, holding the sandbox app's
    Info.plist with that version (and ``info`` over it); their bytes."""
    inbox = root / "release_inbox" / "beta"
    inbox.mkdir(parents=True, exist_ok=True)
    plist = root / ".sandbox" / "app" / "client" / "Info.plist"
    keys = plistlib.loads(plist.read_bytes()) if plist.is_file() else {}
    keys |= {"CFBundleVersion": version, "CFBundleShortVersionString": version} | info
    make_dmg(inbox / "Nexy.dmg", keys, dmg)
    make_pkg(inbox / "Nexy.pkg", keys, version, pkg)
    return (inbox / "Nexy.dmg").read_bytes(), (inbox / "Nexy.pkg").read_bytes()


def make_artifacts(root: Path, dmg: int, pkg: int, notes: str) -> None:
    """The beta inbox of the release ``notes`` is headed with (``# Nexy <version>``)."""
    heading = notes_heading(notes) or ""
    write_archives(root, heading.split()[-1], dmg, pkg)
    atomic_write(root / "release_inbox" / "beta" / "LATEST_CHANGES.md", notes.encode())


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except the volatile ones."""
    files = {}
    for path in sorted(root.rglob("*")):
        name = "/" + str(path.relative_to(root))
        if path.is_file() and not any(part in name for part in VOLATILE):
            files[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"--json must print exactly one line, got: {stdout!r}"
    document = json.loads(lines[0])
    assert isinstance(document, dict)
    return document


def poll(check: Callable[[], bool], deadline_s: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + deadline_s
    while not check():
        assert time.monotonic() < end, f"{what} not reached within {deadline_s:.0f}s"
        time.sleep(0.3)


def copy_source(into: Path) -> Path:
    """A checkout of the VM side to change (what a new commit would be)."""
    from release.steps.vm_artifact import PACKAGES, vm_lock

    into.mkdir(parents=True)
    for name in ("pyproject.toml", vm_lock(REPO).name):
        shutil.copy2(REPO / name, into / name)
    for folder in (*PACKAGES, "systemd"):
        shutil.copytree(REPO / folder, into / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return into
