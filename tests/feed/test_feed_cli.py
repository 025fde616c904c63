"""``nexy-feed`` refuses bad input with one line and exit 2, before anything listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.feed.feedkit import FEED_BIN, RuntimeTree

pytestmark = pytest.mark.timeout(60)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FEED_BIN), *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--root"),
        (("--root", "/nonexistent/vm"), "is not a directory"),
        (("--root", "{root}", "--port", "70000"), "outside 1-65535"),
        (("--root", "{root}", "--port", "http"), "invalid int value"),
        (("--root", "{root}", "--host", "999.1.1.1"), "neither an IP address nor a host name"),
        (("--root", "{root}", "--host", "feed_host"), "neither an IP address nor a host name"),
        (("--root", "{root}", "--certfile", "{root}/cert.pem"), "give both or neither"),
        (
            ("--root", "{root}", "--certfile", "{root}/c.pem", "--keyfile", "{root}/k.pem"),
            "TLS certificate/key",
        ),
        (("--root", "{root}", "--assets-dir", "{root}/none"), "--assets-dir"),
        (("--root", "{root}", "--log-level", "loud"), "invalid choice"),
        (("--root", "{root}", "--resync-seconds", "0"), "must be positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    tree = RuntimeTree(tmp_path / "vm")
    tree.install_fixtures()
    result = _run(*(arg.format(root=tree.root) for arg in args))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nexy-feed: error: ") and message in lines[0]
    assert sorted(path.name for path in tree.root.iterdir()) == ["config.env", "server"]


def test_help_lists_the_layout_overrides() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for flag in ("--manifests-dir", "--unified-config", "--legacy-manifest", "--config-env", "--assets-dir"):
        assert flag in result.stdout


def test_python_dash_m_feed_is_the_same_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "feed", "--root", "/nonexistent/vm"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "nexy-feed: error: --root /nonexistent/vm is not a directory"
