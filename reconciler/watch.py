"""File events: watchfiles on the parent directories of desired and runtime files, filtered by name.

Rules:
- Directories are watched, not files, because an atomic rename replaces the inode a file watch
  would follow. Only names the reconciler owns pass the filter (temp files of atomic writes don't).
- An event only says "reconcile"; what changed is read again by the pass (level-triggered).
- watchfiles hands events over by polling every ``step`` ms, and each wake-up costs CPU. So the
  watcher polls with a short step while busy (for ``hot_seconds`` after an event or ``touch``) and
  with ``idle_step_ms`` when nothing has happened for a while.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles._rust_notify import RustNotify

from .config import WatchConfig

__all__ = ["Watcher"]


class Watcher:
    def __init__(
        self,
        watched: Iterable[tuple[Path, str]],
        on_event: Callable[[], None],
        settings: WatchConfig,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        patterns: dict[Path, set[str]] = {}
        for directory, pattern in watched:
            if directory.is_dir():
                patterns.setdefault(directory.resolve(), set()).add(pattern)
        self._patterns = patterns
        self._on_event = on_event
        self._settings = settings
        self._monotonic = monotonic
        self._hot_until = monotonic() + settings.hot_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    @property
    def directories(self) -> list[Path]:
        return sorted(self._patterns)

    def start(self) -> None:
        if self._patterns:
            self._thread.start()

    def touch(self) -> None:
        """Something happened: poll with the short step for a while."""
        self._hot_until = self._monotonic() + self._settings.hot_seconds

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)

    def _wanted(self, path: str) -> bool:
        candidate = Path(path)
        names = self._patterns.get(candidate.parent)
        return bool(names) and any(fnmatch.fnmatchcase(candidate.name, pattern) for pattern in names or ())

    def _run(self) -> None:
        settings = self._settings
        with RustNotify([str(p) for p in self._patterns], False, False, 300, False, False) as notify:
            while not self._stop.is_set():
                hot = self._monotonic() < self._hot_until
                step = settings.step_ms if hot else settings.idle_step_ms
                raw = notify.watch(settings.debounce_ms, step, 1000, self._stop)
                if not isinstance(raw, set):
                    continue  # "timeout", "signal" or "stop": the loop condition decides
                if any(self._wanted(path) for _change, path in raw):
                    self.touch()
                    self._on_event()
