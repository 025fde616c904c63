"""How tasks talk to a person or a machine.

Rules: expected failures are one line on stderr, never a traceback (``guard``, which every task
gets from ``tasks._options.task``); ``--json`` output is one JSON document on stdout and nothing
else goes there; secrets are never passed to these functions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from rich.console import Console
from rich.table import Table

from release.errors import ReleaseError
from schemas import ExitCode

__all__ = ["check_table", "emit_json", "err_console", "guard", "out_console"]

P = ParamSpec("P")
R = TypeVar("R")


def out_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, default=str, sort_keys=False) + "\n")
    sys.stdout.flush()


def check_table(title: str, rows: Iterable[tuple[str, bool | None, str]]) -> Table:
    """A table of checks: name, ✓/✗/–, detail; it fits 80 columns without splitting a word.

    The name and the mark never wrap (names are short), so only the detail gives way, at spaces; a
    single word longer than the detail column (a URL) ends in "…" there rather than continuing on
    the next line mid-word: the whole text is in the error line and the JSON document."""
    table = Table(title=title, title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    table.add_column("detail", overflow="ellipsis")
    for name, ok, detail in rows:
        mark = "[green]✓[/]" if ok else ("[dim]–[/]" if ok is None else "[red]✗[/]")
        table.add_row(name, mark, detail)
    return table


def guard(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a ReleaseError into its one line and exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ReleaseError as exc:
            err_console().print(f"[red]error:[/] {exc}", markup=True)
            raise SystemExit(exc.code) from None
        except KeyboardInterrupt:
            err_console().print("interrupted: nothing more was changed")
            raise SystemExit(ExitCode.INTERRUPTED) from None

    return wrapper
