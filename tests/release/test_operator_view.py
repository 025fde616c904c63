"""What an operator sees when part of the world is down or wrong (issue 19, points 5 and 6), on a real sandbox.

The module's sandbox releases 2.0.0.15 once (publish → staging.open → validate → promote); each test
then breaks one thing (stops the feeds, closes the gate, flips a byte in the store) and puts it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.sandbox import up
from release.sandbox.procs import stop
from schemas import atomic_write
from tests.conftest import Sandbox, run_inv

from .helpers import make_artifacts, one_json, sha256

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
VERSION = "2.0.0.15"
FEEDS = ("production-feed", "staging-feed", "production-grpc", "staging-grpc")


@pytest.fixture(scope="module")
def released(sandbox: Sandbox) -> Sandbox:
    sandbox.inv("bump", VERSION)
    make_artifacts(sandbox.root, 2 * MB, MB, f"# Nexy {VERSION}\n\n- first\n")
    # Update controls make status's desired and served cells long: the 80-column test needs them.
    controls = ("--phased-rollout-interval", "86400", "--critical", "--critical-below", VERSION)
    publish = ("publish", "--channel", "beta", *controls)
    for task in (publish, ("staging.open",), ("staging.validate",), ("promote",)):
        sandbox.inv(*task)
    return sandbox


@pytest.fixture
def feeds_down(released: Sandbox) -> Iterator[Sandbox]:
    """The feeds and gRPC stand-ins stopped (the VM side, a subprocess remote, still answers)."""
    run_dir = sandbox_paths(released.target).run_dir
    for name in FEEDS:
        stop(run_dir / f"{name}.pid")
    try:
        yield released
    finally:
        up(released.target)


def _urls(box: Sandbox) -> tuple[str, str]:
    production = str(box.target.endpoints.production.url).rstrip("/")
    staging = str(box.target.endpoints.staging.url).rstrip("/")
    return production, staging


def _rows(done: Any, key: str = "checks") -> dict[str, dict[str, Any]]:
    return {row["name" if key == "checks" else "item"]: row for row in one_json(done.stdout)[key]}


def test_verify_with_the_sandbox_down_prints_its_table_and_says_run_sandbox_up(feeds_down: Sandbox) -> None:
    production, staging = _urls(feeds_down)
    shown = feeds_down.inv("verify", check=False)
    assert shown.returncode == 1
    assert "ConnectError" not in shown.stderr.splitlines()[-1]
    assert "│ reachable" in shown.stdout and "│ grpc" in shown.stdout  # the whole table, first to last
    line = shown.stderr.strip().splitlines()[-1]
    assert line.startswith("error: verify failed: reachable: ") and line.endswith("run ./inv sandbox.up")
    rows = _rows(feeds_down.inv("verify", "--json", check=False))
    assert production in rows["reachable"]["detail"] and staging in rows["reachable"]["detail"]
    # One cause, one failed row: what needs a silent endpoint is skipped, naming it.
    failed = [name for name, row in rows.items() if not row["ok"] and not row["skipped"]]
    assert failed == ["reachable"]
    assert rows["/health"]["skipped"] and rows["/health"]["detail"] == f"skipped: {production} did not answer"
    assert rows["assets"]["skipped"] and staging in rows["assets"]["detail"]
    assert rows["VM pair"]["ok"] and rows["repo pair"]["ok"]  # the sides that answer are still asked


def test_status_with_the_feeds_down_marks_the_served_side_and_says_what_to_do(feeds_down: Sandbox) -> None:
    production, staging = _urls(feeds_down)
    done = feeds_down.inv("status", check=False)
    assert done.returncode == 1
    assert "no answer" in done.stdout
    assert f"{production}, {staging} did not answer: the sandbox is not running: run ./inv sandbox.up" in (
        done.stdout
    )
    assert done.stderr.strip().splitlines()[-1].endswith("run ./inv sandbox.up")
    rows = _rows(feeds_down.inv("status", "--json", check=False), "rows")
    version = rows["stable version"]
    assert (version["runtime"], version["served"], version["unknown"]) == (VERSION, None, "served")
    assert version["drift"] is False  # not known to drift: not asked


def test_validate_with_the_gate_closed_fails_one_row_and_downloads_nothing(released: Sandbox) -> None:
    released.inv("staging.close")
    try:
        done = released.inv("staging.validate", "--json", check=False)
        assert done.returncode == 1
        rows = _rows(done)
        failed = [name for name, row in rows.items() if not row["ok"] and not row["skipped"]]
        assert failed == ["beta appcast"]
        assert rows["beta appcast"]["detail"] == "404: the beta gate is closed; run ./inv staging.open"
        cause = "skipped: the beta gate is closed (no beta appcast)"
        for name in ("download Nexy.dmg", "download Nexy.pkg", "signature"):
            assert rows[name]["skipped"] and rows[name]["detail"] == cause
        assert "download Nexy" not in done.stderr  # no progress bar: nothing was fetched
        assert list(rows)[:2] == ["reachable", "beta appcast"]  # the gate is asked before the rest
    finally:
        released.inv("staging.open")


def test_validate_with_staging_down_is_one_row(feeds_down: Sandbox) -> None:
    _, staging = _urls(feeds_down)
    done = feeds_down.inv("staging.validate", "--json", check=False)
    rows = _rows(done)
    failed = [name for name, row in rows.items() if not row["ok"] and not row["skipped"]]
    assert failed == ["reachable"] and rows["reachable"]["detail"].endswith("run ./inv sandbox.up")
    assert rows["download Nexy.dmg"]["detail"] == f"skipped: {staging} did not answer"


def _flip(path: Path) -> bytes:
    original = path.read_bytes()
    changed = bytearray(original)
    changed[1000] ^= 0x01
    atomic_write(path, bytes(changed))
    return original


@pytest.mark.parametrize(("channel", "tag"), [("stable", "Update"), ("beta", "UpdateBeta")])
def test_a_flipped_byte_in_the_store_shows_both_sha256s_and_the_fix(
    released: Sandbox, channel: str, tag: str
) -> None:
    dmg = sandbox_paths(released.target).store_root / tag / "Nexy.dmg"
    want, size = sha256(dmg), dmg.stat().st_size  # a real dmg: a little over what was asked for
    _flip(dmg)
    found = sha256(dmg)
    flag = " --channel beta" if channel == "beta" else ""
    fix = f"./inv rollback{flag} --to {VERSION} --yes"
    status = released.inv("status", "--json", check=False)
    assert status.returncode == 1
    row = _rows(status, "rows")[f"{tag}/Nexy.dmg"]
    assert (row["desired"], row["served"], row["drift"]) == (f"{want[:12]}…", f"{found[:12]}…", True)
    assert f"fix: publish the archived bytes again: {fix}" in released.inv("status", check=False).stdout
    done = released.inv("verify", "--channel", channel, "--json", check=False)
    detail = _rows(done)["assets"]["detail"]
    assert f"{tag}/Nexy.dmg is {size} bytes, sha256 {found[:16]}…" in detail
    assert f"the manifest says {size} bytes, sha256 {want[:16]}…" in detail
    assert detail.endswith(fix)
    # The fix it names is the fix: the released bytes are back, and status agrees.
    released.inv(*fix.split()[1:])
    assert sha256(dmg) == want
    assert one_json(released.inv("status", "--json", check=False).stdout)["drift"] is False


# The marks and the column headers (the JSON carries neither).
ALLOWED = {"–", "?", "ok", "DRIFT", "✓", "✗", "no", "answer", "check", "detail", "item", "drift"}
ALLOWED |= {"desired", "(repo)", "runtime", "(VM)", "served", "(HTTPS)"}


def _source_words(document: dict[str, Any]) -> set[str]:
    """Every whitespace-separated word the tables are made of (from the same run's JSON)."""
    words: set[str] = set(ALLOWED)
    rows = document.get("checks") or document.get("preflight") or document.get("rows") or []
    for row in rows:
        for value in row.values():
            words.update(str(value).split())
    return words


def _split_words(rendered: str, words: set[str]) -> list[str]:
    """The cell fragments at 80 columns that are no whole word (a word folded over two lines)."""
    bad = []
    for line in rendered.splitlines():
        if not line.startswith(("│", "┃")):
            continue
        for cell in line.strip("│┃").replace("┃", "│").split("│"):
            for token in cell.split():
                cut = token.endswith("…") and any(word.startswith(token[:-1]) for word in words)
                if token not in words and not cut:
                    bad.append(token)
    return bad


def _at_80(box: Sandbox, *task: str) -> tuple[str, dict[str, Any]]:
    env = dict(os.environ, COLUMNS="80")
    args = (*task, "--target", str(box.target_file))
    shown = run_inv(*args, env=env)
    document = json.loads(run_inv(*args, "--json", env=env).stdout.strip().splitlines()[-1])
    return shown.stdout, document


TABLES = [
    ("status",),
    ("verify",),
    ("verify", "--channel", "beta"),
    ("preflight", "--channel", "beta"),
    ("staging.validate",),
]


@pytest.mark.parametrize("down", [False, True], ids=["up", "down"])
def test_every_table_fits_80_columns_without_splitting_a_word(released: Sandbox, down: bool) -> None:
    run_dir = sandbox_paths(released.target).run_dir
    if down:
        for name in FEEDS:
            stop(run_dir / f"{name}.pid")
    try:
        for task in TABLES:
            rendered, document = _at_80(released, *task)
            assert "│" in rendered, (task, rendered)
            too_wide = [line for line in rendered.splitlines() if len(line) > 80 and line[:1] in "│┃┏┡└"]
            assert too_wide == [], (task, too_wide)
            split = _split_words(rendered, _source_words(document))
            assert split == [], f"{task}: {split}\n{rendered}"
    finally:
        up(released.target)
