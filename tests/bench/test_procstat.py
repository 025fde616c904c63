"""The benchmarks' process figures: portable CPU time, and ru_maxrss in the right unit per system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.procstat import cpu_seconds, maxrss_mb, stop_and_reap

pytestmark = pytest.mark.timeout(60)


def test_ru_maxrss_is_bytes_on_macos_and_kilobytes_on_linux() -> None:
    # getrusage(2): macOS reports ru_maxrss in bytes, Linux in kilobytes.
    assert maxrss_mb(150 * 1024 * 1024, platform="darwin") == 150.0
    assert maxrss_mb(150 * 1024, platform="linux") == 150.0


def test_a_reaped_child_reports_the_memory_it_really_touched() -> None:
    touch = (
        "import signal, sys, time\n"
        "block = bytearray(96 * 1024 * 1024)\n"
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", touch], stdout=subprocess.PIPE)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    assert cpu_seconds(child.pid) > 0
    peak = stop_and_reap(child)
    assert child.returncode == 0
    # 96 MiB touched plus the interpreter; a unit slip (bytes read as kB) would be 1024x off.
    assert 96 <= peak < 1024
