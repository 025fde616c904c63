"""Process figures for the benchmarks, measured the same way on macOS and Linux.

Rules:
- CPU time is psutil's user + system time of the whole process (all its threads): psutil asks the
  kernel the portable way on each system, so no benchmark reads Linux's procfs.
- Peak RSS is the kernel's own high-water mark of a process we reap, ``ru_maxrss`` from ``wait4``.
  Its unit differs: kilobytes on Linux, bytes on macOS (getrusage(2) on each system); ``maxrss_mb``
  is the one place that knows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

__all__ = ["cpu_seconds", "maxrss_mb", "reap", "stop_and_reap"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far, every thread included."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def maxrss_mb(ru_maxrss: int, platform: str = sys.platform) -> float:
    """``ru_maxrss`` in MiB: bytes on macOS, kilobytes on Linux (and the other BSD-less systems)."""
    return ru_maxrss / (1024 * 1024) if platform == "darwin" else ru_maxrss / 1024


def reap(process: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Wait up to ``timeout`` for ``process`` to end; its peak RSS in MiB, or None if it still runs."""
    end = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return maxrss_mb(usage.ru_maxrss)
        if time.monotonic() > end:
            return None
        time.sleep(0.02)


def stop_and_reap(process: subprocess.Popen[bytes], timeout: float = 20.0) -> float:
    """SIGTERM (then SIGKILL after ``timeout``) and reap; the process's peak RSS in MiB."""
    process.send_signal(signal.SIGTERM)
    peak = reap(process, timeout)
    if peak is None:
        process.kill()
        peak = reap(process, 10.0)
    return peak if peak is not None else 0.0
