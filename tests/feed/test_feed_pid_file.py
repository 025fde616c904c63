"""``--pid-file``: written only once the feed handles SIGHUP, gone once it stops handling it.

This is what the sandbox's gate action reads instead of asking Linux's procfs whether SIGHUP is
caught, so it must hold on macOS too: SIGHUP sent the instant the file appears must not kill the feed.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.feed.feedkit import FeedProcess, RuntimeTree, wait_until

pytestmark = pytest.mark.timeout(60)


def test_the_pid_file_appears_only_when_sighup_is_safe_and_goes_on_stop(
    tree: RuntimeTree, tmp_path: Path, client: httpx.Client
) -> None:
    pid_file = tmp_path / "run" / "feed.serving.json"
    pid_file.parent.mkdir()
    feed = FeedProcess(tree.root, tmp_path / "feed.log", "--pid-file", str(pid_file))
    with feed.log_path.open("ab") as log:
        feed.process = subprocess.Popen(feed.args, stdout=log, stderr=log)
    try:
        wait_until(lambda: pid_file.exists() or feed.process.poll() is not None, timeout=30.0)
        assert feed.process.poll() is None, feed.log()
        # At once, as the gate action would: the handler is already there, so this is a reload.
        feed.signal(signal.SIGHUP)
        assert json.loads(pid_file.read_text()) == {"pid": feed.process.pid}
        wait_until(lambda: "reload requested" in feed.log())
        assert client.get(f"{feed.base_url}/health").status_code == 200
        assert feed.process.poll() is None, "SIGHUP killed a feed that announced it handles it"
    finally:
        code = feed.stop()
    assert code == 0, feed.log()
    assert not pid_file.exists(), "the pid file outlived the SIGHUP handler"
