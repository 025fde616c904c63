"""What a running task needs, in one object: target, backends, HTTP, consoles, clock, options.

Rules:
- Backends come only from ``release.backends`` (opened lazily), so production backends plug in
  without changing a task, and a dry run that needs no backend never opens one.
- Output: a person gets rich tables and plan lines on stdout and progress bars on stderr; under
  ``--json`` stdout carries exactly one JSON document and progress bars are off.
- The clock and the HTTP client are injectable, so tests can drive them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from schemas import Target, utcnow

from .console import emit_json, err_console, out_console
from .probes import ssl_context
from .remote.base import Remote
from .store.base import Progress as ProgressCallback
from .store.base import Store

__all__ = ["Session", "ssl_context"]


@dataclass
class Session:
    target: Target
    task: str
    json: bool = False
    dry_run: bool = False
    clock: Callable[[], datetime] = utcnow
    out: Console = field(default_factory=out_console)
    err: Console = field(default_factory=err_console)
    _store: Store | None = None
    _remote: Remote | None = None
    _http: httpx.Client | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from .backends import open_store

            self._store = open_store(self.target)
        return self._store

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            from .backends import open_remote

            self._remote = open_remote(self.target)
        return self._remote

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(verify=ssl_context(self.target), timeout=15.0, follow_redirects=True)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def say(self, text: str) -> None:
        """A line for a person (stderr under --json, so stdout stays one document)."""
        (self.err if self.json else self.out).print(text)

    def show(self, renderable: Any) -> None:
        if not self.json:
            self.out.print(renderable)

    def emit(self, document: Any) -> None:
        if self.json:
            emit_json(document)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[ProgressCallback]:
        """A byte progress bar on stderr (silent under --json or when stderr is not a terminal)."""
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=self.json,
            transient=False,
        )
        with bar:
            handle = bar.add_task(description, total=total)

            def advance(count: int) -> None:
                bar.advance(handle, count)

            yield advance
