"""What every task shares: the repository root, the target option and the session it opens.

Rules: every task takes ``--target`` (``sandbox`` by default, ``production`` named explicitly, or a
path); the invoke config key ``nexy.target`` (env ``INVOKE_NEXY_TARGET``) changes the default, but
a target that reaches real users (any non-local store) must always be named with ``--target``.
Options are named the same everywhere: ``--dry-run`` prints the exact plan and changes nothing,
``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context

from release.errors import ReleaseError
from release.session import Session
from release.target import DEFAULT_TARGET, load_target
from schemas import Channel, Target

__all__ = [
    "COMMON",
    "DRY",
    "JSON",
    "ROOT",
    "TARGET",
    "load_target_option",
    "open_session",
    "parse_channel",
    "target_option",
]

ROOT = Path(__file__).resolve().parent.parent
TARGET = "sandbox (default), production, or a path to a target YAML file"
DRY = "print the exact plan, change nothing"
JSON = "print one JSON document on stdout (no progress bars)"
COMMON = {"target": TARGET, "dry_run": DRY, "json": JSON}


def target_option(c: Context, name: str | None) -> str:
    """The target a task acts on: its --target, else the config default."""
    return name or c.config.get("nexy", {}).get("target") or DEFAULT_TARGET


def load_target_option(c: Context, name: str | None) -> Target:
    loaded = load_target(target_option(c, name), ROOT)
    if name is None and loaded.store.kind != "local":
        # A default never reaches real users: production (any non-local store) is always named.
        raise ReleaseError(f"target {loaded.name!r} must be named explicitly: pass --target {loaded.name}")
    return loaded


def open_session(c: Context, name: str | None, task_name: str, json: bool, dry_run: bool) -> Session:
    return Session(load_target_option(c, name), task_name, json=json, dry_run=dry_run)


def parse_channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise ReleaseError(f"--channel {value!r}: use beta or stable") from None
