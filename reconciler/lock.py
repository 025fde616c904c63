"""The VM lock: one writer of desired and runtime state at a time.

Rules: an ``fcntl.flock`` on ``<state_dir>/lock``; the kernel drops it when the holder dies, so a
SIGKILLed daemon never leaves a stale lock. ``accept`` and every reconcile pass hold it while they
write, so a pass never sees half of a bundle.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LockTimeout", "vm_lock"]


class LockTimeout(Exception):
    """The lock stayed busy until the deadline."""


@contextmanager
def vm_lock(path: Path, timeout_s: float = 30.0) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"VM lock {path} is busy (another accept or pass holds it)") from None
                time.sleep(0.005)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
