"""What the daemon's main loop sleeps on: a self-pipe, so no reason to wake up is ever lost.

Rules:
- CPython runs a Python signal handler only in the main thread, between bytecodes. A signal that
  lands just before the main thread blocks, or on another thread (the kernel may hand a
  process-directed signal to any thread that does not block it, here watchfiles' or the watch
  thread), only sets a flag: a blocking wait on a lock or a queue then sleeps on to its timeout,
  minutes for the daemon. That was a SIGTERM ignored until systemd's (or a test's) SIGKILL.
- So the C-level handler writes each caught signal's number to the pipe (``signal.set_wakeup_fd``),
  other threads write byte 0 (``notify``), and ``wait`` sleeps in ``select`` on the pipe: a byte
  written at any time before the sleep ends it at once.
- ``wait`` reads the reasons from the bytes themselves, so it does not depend on the Python handler
  having run. A full pipe drops a byte and never blocks the writer; the pipe is readable then
  anyway, and a dropped signal is still seen through ``record``, which the Python handler calls.
- Only the main thread may ``open``/``close`` (``set_wakeup_fd`` demands it); ``close`` puts back
  the wakeup fd that was there before.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from types import TracebackType

__all__ = ["Wakeup"]

_FROM_A_THREAD = 0
_CHUNK = 4096
_LONGEST_SLEEP_S = 3600.0  # select takes no infinity; the caller re-checks its deadlines anyway


class Wakeup:
    """Reasons to wake up: "term" (SIGTERM, SIGINT), "hup" (SIGHUP) and "fs" (``notify``)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        self._recorded: set[str] = set()
        self._previous: int | None = None
        self._words = {
            _FROM_A_THREAD: "fs",
            int(signal.SIGHUP): "hup",
            int(signal.SIGTERM): "term",
            int(signal.SIGINT): "term",
        }

    def open(self) -> Wakeup:
        # A full pipe means the loop is already due to wake up: no warning for a dropped byte.
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        return self

    def close(self) -> None:
        if self._previous is not None:
            signal.set_wakeup_fd(self._previous)
            self._previous = None
        for fd in (self._read, self._write):
            os.close(fd)

    def __enter__(self) -> Wakeup:
        return self.open()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def notify(self) -> None:
        """From any thread: something on disk changed."""
        # Full (the loop is due to wake up anyway), or closed on the way out.
        with contextlib.suppress(OSError):
            os.write(self._write, bytes([_FROM_A_THREAD]))

    def record(self, word: str) -> None:
        """From a signal handler (the main thread): a reason, in case its byte was dropped."""
        self._recorded.add(word)

    def wait(self, timeout: float) -> set[str]:
        """Sleep until a reason arrives or ``timeout`` seconds pass; every reason since the last call."""
        if not self._recorded:
            select.select([self._read], [], [], min(max(0.0, timeout), _LONGEST_SLEEP_S))
        words, self._recorded = self._recorded, set()
        while True:
            try:
                chunk = os.read(self._read, _CHUNK)
            except BlockingIOError:
                break
            words.update(self._words[byte] for byte in chunk if byte in self._words)
            if len(chunk) < _CHUNK:
                break
        return words
