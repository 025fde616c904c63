"""What a running task needs, in one object: target, backends, HTTP, consoles, clock, options,
the workstation lock and the journal.

Rules:
- A task opens its session with ``Session.open(target, task, json=, dry_run=, lock=)`` as a context:
  it closes what the session opened (the HTTP client) however the task ends. ``lock=True`` marks a
  state-changing task: it holds the workstation lock from its first read to its last write, so a
  second one stops before it reads anything (a dry run changes nothing: no lock).
- Every state change is ``with session.change() as change:`` and ends with exactly one journal
  line, "ok" (or the task's own result), or "failed" with the reason, whatever the exception that
  stopped it.
- Backends come only from ``release.outside.backends`` (opened lazily), so production backends plug in
  without changing a task, and a dry run that needs no backend never opens one.
- Output: a person gets rich tables and plan lines on stdout and progress bars on stderr; under
  ``--json`` stdout carries exactly one JSON document and progress bars are off.
- The clock, the HTTP client and the environment (``env``: secrets are read from it by name) are
  injectable, so tests can drive them.
- A reporting task ends in ``finish`` (or ``finish_checks`` for a list of checks): the table for a
  person, the one JSON document under ``--json``, and exit 1 with one line naming every failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

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

from release.console import check_table, emit_json, err_console, out_console
from release.errors import CHECK_FAILED, ReleaseError
from release.outside.probes import ssl_context
from release.outside.remote.base import Remote
from release.outside.store.base import Progress as ProgressCallback
from release.outside.store.base import Store
from release.parts.journal import append_entry, who, workstation_lock
from schemas import Channel, CheckResult, ReleaseLogEntry, Target, utcnow

__all__ = ["Change", "Session", "ssl_context"]


@dataclass
class Change:
    """What the journal line will say; the task fills it in as it goes."""

    channel: Channel | None = None
    version: str | None = None
    fingerprint: str | None = None
    result: Literal["ok", "skip", "failed", "forced"] = "ok"
    details: list[str] = field(default_factory=list)


def _short(exc: BaseException) -> str:
    """The type and the first line of an unexpected error (SDK messages can run to pages)."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


@dataclass
class Session:
    target: Target
    task: str
    json: bool = False
    dry_run: bool = False
    clock: Callable[[], datetime] = utcnow
    out: Console = field(default_factory=out_console)
    err: Console = field(default_factory=err_console)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    _store: Store | None = None
    _remote: Remote | None = None
    _http: httpx.Client | None = None

    @classmethod
    @contextmanager
    def open(
        cls, target: Target, task: str, *, json: bool = False, dry_run: bool = False, lock: bool = False
    ) -> Iterator[Session]:
        """The session of one task run; ``lock`` for a task that changes state."""
        session = cls(target, task, json=json, dry_run=dry_run)
        try:
            if lock and not dry_run:
                with workstation_lock(target, task):
                    yield session
            else:
                yield session
        finally:
            session._close()

    @property
    def store(self) -> Store:
        if self._store is None:
            from release.outside.backends import open_store

            self._store = open_store(self.target)
        return self._store

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            from release.outside.backends import open_remote

            self._remote = open_remote(self.target)
        return self._remote

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(verify=ssl_context(self.target), timeout=15.0, follow_redirects=True)
        return self._http

    def _close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    @contextmanager
    def change(self) -> Iterator[Change]:
        """One state change: exactly one journal line when it ends, however it ends."""
        target = self.target
        change = Change()
        try:
            yield change
        except BaseException as exc:
            # Whatever stops the task midway (a bug, an SDK error nobody foresaw, Ctrl-C), its line
            # must not say "ok": the change may be half made.
            change.result = "failed"
            change.details.append(str(exc) if isinstance(exc, ReleaseError | OSError) else _short(exc))
            raise
        finally:
            append_entry(
                target,
                ReleaseLogEntry(
                    at=self.clock(),
                    who=who(target.root),
                    task=self.task,
                    result=change.result,
                    target=target.name,
                    channel=change.channel,
                    version=change.version,
                    fingerprint=change.fingerprint,
                    detail="; ".join(change.details)[:500],
                ),
            )

    def say(self, text: str) -> None:
        """A line for a person (stderr under --json, so stdout stays one document)."""
        (self.err if self.json else self.out).print(text)

    def show(self, renderable: Any) -> None:
        if not self.json:
            self.out.print(renderable)

    def emit(self, document: Any) -> None:
        if self.json:
            emit_json(document)

    def finish(self, table: Any, document: Any, *, failure: str = "", notes: Sequence[str] = ()) -> None:
        """The end of a reporting task: ``table`` (then ``notes``) for a person, ``document`` (unless
        None) as the one JSON document under --json, and a non-empty ``failure`` as its line, exit 1."""
        self.show(table)
        for note in notes:
            self.say(note)
        if document is not None:
            self.emit(document)
        if failure:
            raise ReleaseError(failure, CHECK_FAILED)

    def finish_checks(
        self,
        title: str,
        checks: Sequence[CheckResult],
        document: Any,
        error: str,
        notes: Sequence[str] = (),
    ) -> None:
        """``finish`` for a list of checks: a ✓/✗/– table (– for a skipped row), and
        ``error: name: detail; ...`` naming each failed one (skipped rows follow from those)."""
        failed = "; ".join(f"{c.name}: {c.detail}" for c in checks if not c.ok and not c.skipped)
        table = check_table(title, [(c.name, None if c.skipped else c.ok, c.detail) for c in checks])
        self.finish(table, document, failure=f"{error}: {failed}" if failed else "", notes=notes)

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[ProgressCallback]:
        """A byte progress bar on stderr (silent under --json or when stderr is not a terminal);
        ``total`` None when the size is not known beforehand."""
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
