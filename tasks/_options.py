"""What every task shares: the ``task`` decorator, the repository root and the target option.

Rules: every task is declared with ``task`` below (invoke's ``@task`` plus the project's one-line
errors and exit codes, ``release.console.guard``) and nothing else: ``tasks/__init__.py`` collects
every task a module defines, so none can be forgotten. A task that reads or changes the release
opens one ``release.parts.session.Session`` as a context (``lock=True`` when it changes state). Every task takes ``--target`` (``sandbox`` by default, ``production`` named explicitly, or a
path); the invoke config key ``nexy.target`` (env ``INVOKE_NEXY_TARGET``) changes the default, but
a target that reaches real users (any non-local store) must always be named with ``--target``.
Options are named the same everywhere: ``--dry-run`` prints the exact plan and changes nothing,
``--json`` prints one JSON document on stdout. A short flag means one option in every task:
``SHORT_FLAGS`` is the whole list, ``task`` gives each option its letter from there and no other
(invoke's own letters, the first free letter of the name, would make ``-t`` ``--to`` in one task
and ``--target`` in the next); an option not in the table is long only. An option's help ends with
its default, ``(default: …)``: ``task`` appends the signature's default (a non-empty string, or
``on`` for a flag that is on unless ``--no-…``) unless the help already says it in its own words;
every task's docstring has one ``Example: ./inv …`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.parser.argument import Argument
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from release.console import guard
from release.errors import ReleaseError
from release.parts.target import DEFAULT_TARGET, load_target
from schemas import Channel, Target

__all__ = [
    "COMMON",
    "DRY",
    "JSON",
    "ROOT",
    "SHORT_FLAGS",
    "TARGET",
    "load_target_option",
    "parse_channel",
    "target_option",
    "task",
]

ROOT = Path(__file__).resolve().parent.parent
TARGET = (
    "sandbox, production, or a path to a target YAML file (default: sandbox, or the config's nexy.target)"
)
DRY = "print the exact plan, change nothing"
JSON = "print one JSON document on stdout (no progress bars)"
COMMON = {"target": TARGET, "dry_run": DRY, "json": JSON}
# Short flag -> the one long option it stands for, in every task that has that option.
SHORT_FLAGS = {
    "-t": "--target",
    "-d": "--dry-run",
    "-j": "--json",
    "-c": "--channel",
    "-y": "--yes",
    "-r": "--reason",
    "-q": "--quick",
}
_SHORT_OF = {long.removeprefix("--"): short.removeprefix("-") for short, long in SHORT_FLAGS.items()}


def _default_note(default: object) -> str | None:
    if default is True:
        return "on"
    return default if isinstance(default, str) and default else None


class _Task(Task[Any]):
    """invoke's Task, its options' short flags from ``SHORT_FLAGS`` (``auto_shortflags`` is off) and
    their defaults at the end of their help."""

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        short = _SHORT_OF.get(opts["names"][0])
        if short is not None:
            opts["names"] = [*opts["names"], short]
        note = _default_note(default)
        if note is not None and "help" in opts and "(default:" not in opts["help"]:
            opts["help"] = f"{opts['help']} (default: {note})"
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        # invoke pops each option's help as it builds the Argument: the next parser would have none.
        helps = dict(self.help)
        try:
            return super().get_arguments(ignore_unknown_help)
        finally:
            self.help = helps


def target_option(c: Context, name: str | None) -> str:
    """The target a task acts on: its --target, else the config default."""
    return name or c.config.get("nexy", {}).get("target") or DEFAULT_TARGET


def load_target_option(c: Context, name: str | None) -> Target:
    loaded = load_target(target_option(c, name), ROOT)
    if name is None and loaded.store.kind != "local":
        # A default never reaches real users: production (any non-local store) is always named.
        raise ReleaseError(f"target {loaded.name!r} must be named explicitly: pass --target {loaded.name}")
    return loaded


def task(**options: Any) -> Callable[[Callable[..., None]], Task[Any]]:
    """Declare a task: invoke's ``@task(**options)`` over the body with ``guard`` (a ReleaseError is
    its one line and exit code, Ctrl-C is exit 130), short flags from ``SHORT_FLAGS`` only."""

    def declare(body: Callable[..., None]) -> Task[Any]:
        declared: Task[Any] = invoke_task(klass=_Task, auto_shortflags=False, **options)(guard(body))
        return declared

    return declare


def parse_channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise ReleaseError(f"--channel {value!r}: use beta or stable") from None
