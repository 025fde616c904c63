"""A background CPU load for ``./inv test --stress``: the busy machine the suite must pass on.

Rules: the load is N plain Python processes spinning in a loop (no extra tool: stress-ng is not on a
Mac by default), started before pytest and always stopped after it, Ctrl-C and failures included.
They are this process's own children, found by the handles kept here and nothing else.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cpu_load"]

_SPIN = "while True: pass"


@contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """Keep ``processes`` CPU-bound children running for the duration of the block."""
    children = [
        subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL) for _ in range(processes)
    ]
    try:
        yield
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()
