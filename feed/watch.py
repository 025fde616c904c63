"""Rebuilding the feed when a runtime file changes, when SIGHUP asks, and on a slow resync.

Rules:
- Watch parent directories, never single files: an atomic write renames a new file over the old
  one, which a single-file watch loses. Events are filtered by name.
- A directory that does not exist yet is watched through its nearest existing ancestor; when the
  set of directories changes after a rebuild, the watcher restarts on the new set.
- File reads run in a worker thread; the snapshot swap happens on the event loop.
- A periodic resync catches anything the watcher missed; it costs one read of a few small files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from watchfiles import Change, awatch

from schemas import RuntimeLayout

from .service import FeedService

__all__ = ["Reloader", "watch_directories"]

log = logging.getLogger("nexy.feed")


def _targets(layout: RuntimeLayout) -> list[Path]:
    return [layout.stable_manifest, layout.beta_manifest, layout.unified_config_path, layout.config_env_path]


def _nearest_existing(directory: Path) -> Path:
    for candidate in (directory, *directory.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")


def watch_directories(layout: RuntimeLayout) -> tuple[Path, ...]:
    return tuple(sorted({_nearest_existing(target.parent) for target in _targets(layout)}))


class _NameFilter:
    """Accept events on the runtime files (any ``manifest*.json``) and on the directories above them."""

    def __init__(self, layout: RuntimeLayout) -> None:
        targets = _targets(layout)
        self.names = {target.name for target in targets}
        self.ancestors = {parent for target in targets for parent in target.parents}

    def __call__(self, change: Change, path: str) -> bool:
        candidate = Path(path)
        name = candidate.name
        if name in self.names or (name.startswith("manifest") and name.endswith(".json")):
            return True
        return candidate in self.ancestors


class Reloader:
    def __init__(self, service: FeedService, *, resync_seconds: float = 60.0, debounce_ms: int = 300) -> None:
        self.service = service
        self.resync_seconds = resync_seconds
        self.debounce_ms = debounce_ms
        self._kick = asyncio.Event()

    def request_reload(self) -> None:
        """Force a rebuild soon (SIGHUP); safe to call from a signal handler on the loop."""
        self._kick.set()

    async def reload(self, *, force: bool) -> None:
        try:
            inputs = await asyncio.to_thread(self.service.read)
            self.service.apply(inputs, force=force)
        except Exception:
            # The last good snapshot stays served; the next event or resync tries again.
            log.exception("feed reload failed")

    async def _forced(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            kick = asyncio.ensure_future(self._kick.wait())
            halt = asyncio.ensure_future(stop.wait())
            await asyncio.wait({kick, halt}, return_when=asyncio.FIRST_COMPLETED)
            kick.cancel()
            halt.cancel()
            if self._kick.is_set() and not stop.is_set():
                self._kick.clear()
                log.info("reload requested")
                await self.reload(force=True)

    async def _watched(self, stop: asyncio.Event) -> None:
        layout = self.service.layout
        watch_filter = _NameFilter(layout)
        while not stop.is_set():
            directories = watch_directories(layout)
            try:
                async for _changes in awatch(
                    *directories,
                    watch_filter=watch_filter,
                    debounce=self.debounce_ms,
                    step=30,
                    stop_event=stop,
                    rust_timeout=int(self.resync_seconds * 1000),
                    yield_on_timeout=True,
                    recursive=False,
                    ignore_permission_denied=True,
                ):
                    await self.reload(force=False)
                    if watch_directories(layout) != directories:
                        break
            except Exception:
                # A directory vanishing under the watcher is survivable: wait a moment, watch again.
                log.exception("file watcher failed; restarting it")
                await self.reload(force=False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._forced(stop))
            group.create_task(self._watched(stop))
