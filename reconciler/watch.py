"""File events: watchfiles on the parent directories of desired and runtime files, filtered by name.

Rules:
- Directories are watched, not files, because an atomic rename replaces the inode a file watch
  would follow. Only names the reconciler owns pass the filter (temp files of atomic writes don't).
- The watch exists when ``start()`` returns (it is set up in the caller's thread, not in the
  watch thread), so the daemon reports READY only once an edit cannot be missed.
- Each watched directory's parent (or nearest existing ancestor) is watched too: when a directory
  is deleted or created again, the watch is rebuilt at once on the directories as they are now,
  and the event wakes a pass, so a re-created directory is followed without waiting for a resync.
- An event only says "reconcile"; what changed is read again by the pass (level-triggered).
- watchfiles hands events over by polling every ``step`` ms, and each wake-up costs CPU. So the
  watcher polls with a short step while busy (for ``hot_seconds`` after an event or ``touch``) and
  with ``idle_step_ms`` when nothing has happened for a while.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from watchfiles._rust_notify import RustNotify

from schemas.daemonlog import log_event

from .config import WatchConfig

__all__ = ["Watcher"]


def _nearest_existing(path: Path) -> Path | None:
    while not path.is_dir():
        if path.parent == path:
            return None
        path = path.parent
    return path


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
            patterns.setdefault(directory.resolve(), set()).add(pattern)
        self._patterns = patterns
        self._on_event = on_event
        self._settings = settings
        self._monotonic = monotonic
        self._hot_until = monotonic() + settings.hot_seconds
        self._stop = threading.Event()
        self._notify: RustNotify | None = None
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def _roots(self) -> list[str]:
        roots: set[Path] = set()
        for directory in self._patterns:
            if directory.is_dir():
                roots.add(directory)
            ancestor = _nearest_existing(directory.parent)
            if ancestor is not None:
                roots.add(ancestor)
        return sorted(str(root) for root in roots)

    def _open(self) -> RustNotify | None:
        # A directory can vanish between the listing and the watch: try again on what is left.
        for _attempt in range(3):
            roots = self._roots()
            if not roots:
                return None
            try:
                # Keywords, as named in watchfiles' _rust_notify.pyi (1.x): a reordered or added
                # parameter then fails loudly instead of shifting a flag. 300 ms is only used when
                # polling is forced, which it is not.
                return RustNotify(
                    watch_paths=roots,
                    debug=False,
                    force_polling=False,
                    poll_delay_ms=300,
                    recursive=False,
                    ignore_permission_denied=False,
                )
            except (OSError, RuntimeError) as exc:
                error = str(exc)[:150]
        log_event({"event": "watch_failed", "error": error}, logging.ERROR)
        return None

    def start(self) -> None:
        """Watch now; events are handed over by the watch thread from here on."""
        self._notify = self._open()
        if self._notify is not None:
            self._thread.start()

    def touch(self) -> None:
        """Something happened: poll with the short step for a while."""
        self._hot_until = self._monotonic() + self._settings.hot_seconds

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        elif self._notify is not None:
            self._notify.close()

    def _wanted(self, path: str) -> bool:
        candidate = Path(path)
        names = self._patterns.get(candidate.parent)
        return bool(names) and any(fnmatch.fnmatchcase(candidate.name, pattern) for pattern in names or ())

    def _structural(self, path: str) -> bool:
        """An event on an owned directory itself or on one of its ancestors (deleted, created)."""
        candidate = Path(path)
        return any(
            directory == candidate or directory.is_relative_to(candidate) for directory in self._patterns
        )

    def _run(self) -> None:
        settings = self._settings
        notify = self._notify
        try:
            while notify is not None and not self._stop.is_set():
                hot = self._monotonic() < self._hot_until
                step = settings.step_ms if hot else settings.idle_step_ms
                raw = notify.watch(settings.debounce_ms, step, 1000, self._stop)
                if not isinstance(raw, set):
                    continue  # "timeout", "signal" or "stop": the loop condition decides
                if any(self._structural(path) for _change, path in raw):
                    notify.close()
                    notify = self._notify = self._open()
                    self.touch()
                    self._on_event()
                elif any(self._wanted(path) for _change, path in raw):
                    self.touch()
                    self._on_event()
        finally:
            if notify is not None:
                notify.close()
