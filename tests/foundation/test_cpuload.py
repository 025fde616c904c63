"""``./inv test --stress``'s load: its children spin while the block runs and are gone after it, errors included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tasks._load import cpu_load


def _spinners() -> list[psutil.Process]:
    return [child for child in psutil.Process().children() if "while True: pass" in " ".join(child.cmdline())]


def test_the_load_runs_during_the_block_and_is_stopped_after_it() -> None:
    with cpu_load(2):
        running = _spinners()
        assert len(running) == 2
        assert all(child.is_running() for child in running)
    assert _spinners() == []
    assert not any(child.is_running() for child in running)


def test_the_load_is_stopped_when_the_block_fails() -> None:
    running: list[psutil.Process] = []

    def fail_under_load() -> None:
        with cpu_load(1):
            running.extend(_spinners())
            raise RuntimeError("pytest failed")

    with pytest.raises(RuntimeError):
        fail_under_load()
    assert len(running) == 1
    assert not any(child.is_running() for child in running)


def test_no_load_starts_nothing() -> None:
    with cpu_load(0):
        assert _spinners() == []


def test_a_bad_stress_value_is_one_line_and_starts_nothing() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "test", "--stress", "two"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines == ["error: --stress 'two': use a whole number of CPU-bound processes"], lines
