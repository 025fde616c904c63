"""The suite itself runs on a Mac: no test reads Linux's procfs, and Unix sockets get short paths."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# The harness that names the process file system does so to forbid it (see its docstring); the
# port picker reads Linux's ephemeral range there only on Linux and takes macOS's default elsewhere
# (tests/foundation/test_ports.py runs it on either).
HARNESS = {TESTS / "sandbox" / "test_no_proc.py", TESTS / "ports.py", Path(__file__).resolve()}


def _test_sources() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if path.resolve() not in HARNESS)


def test_no_test_depends_on_proc() -> None:
    found = [str(p.relative_to(TESTS)) for p in _test_sources() if "/proc" in p.read_text(encoding="utf-8")]
    assert not found, f"tests that depend on /proc (absent on macOS): {found}"


def test_every_unix_socket_is_bound_in_the_short_socket_directory() -> None:
    # sun_path holds 104 bytes on macOS; pytest's tmp_path there is longer than a socket may be.
    found = [
        str(path.relative_to(TESTS))
        for path in _test_sources()
        if "AF_UNIX" in (text := path.read_text(encoding="utf-8")) and "unix_socket_dir" not in text
    ]
    assert not found, f"bind Unix sockets under unix_socket_dir (tests/conftest.py): {found}"
