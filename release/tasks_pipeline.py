"""The release pipeline's invoke tasks; ``tasks.py`` adds them to its namespace.

Rules: tasks are thin (parse options, open a ``Session``, call one function); every task takes
``--target``, ``--dry-run`` and ``--json``; exit 0 done, 1 a check failed, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from schemas import Channel

from .console import guard
from .errors import ReleaseError
from .flow import task_lock
from .session import Session
from .target import DEFAULT_TARGET, load_target

__all__ = ["PIPELINE_TASKS", "staging"]

ROOT = Path(__file__).resolve().parent.parent
TARGET = "sandbox (default), production, or a path to a target YAML file"
DRY = "print the exact plan, change nothing"
JSON = "print one JSON document on stdout (no progress bars)"
COMMON = {"target": TARGET, "dry_run": DRY, "json": JSON}


def _session(c: Context, target: str | None, task_name: str, json: bool, dry_run: bool) -> Session:
    chosen = target or c.config.get("nexy", {}).get("target") or DEFAULT_TARGET
    return Session(load_target(chosen, ROOT), task_name, json=json, dry_run=dry_run)


def _channel(value: str) -> Channel:
    try:
        return Channel(value)
    except ValueError:
        raise ReleaseError(f"--channel {value!r}: use beta or stable") from None


@task(help={"channel": "beta or stable", **COMMON})
@guard
def preflight(
    c: Context, channel: str = "beta", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """The rulebook's pre-release checklist as a table (exit 1 naming each failed item)."""
    from .console import check_table
    from .preflight import run_preflight

    session = _session(c, target, "preflight", json, dry_run)
    chosen = _channel(channel)
    checks = run_preflight(session, chosen)
    session.show(
        check_table(
            f"preflight ({chosen.value}, {session.target.name})",
            [(check.name, check.ok, check.detail) for check in checks],
        )
    )
    session.emit(
        {"ok": all(check.ok for check in checks), "checks": [check.model_dump() for check in checks]}
    )
    failed = [check for check in checks if not check.ok]
    if failed:
        raise ReleaseError("preflight failed: " + "; ".join(f"{c.name}: {c.detail}" for c in failed), 1)


@task(help={"channel": "beta (stable is refused: beta → staging.validate → promote)", **COMMON})
@guard
def publish(
    c: Context, channel: str = "beta", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Upload the beta inbox into UpdateBeta/AppBeta, write manifest_beta.json, sync."""
    from .publish import publish as run

    session = _session(c, target, "publish", json, dry_run)
    chosen = _channel(channel)
    if chosen is Channel.STABLE:
        run(session, chosen)  # refused with the funnel line before anything, even the lock, is touched
    with task_lock(session):
        run(session, chosen)


@task(
    help={
        "force": "promote without a passing validation (needs --reason)",
        "reason": "why validation is skipped (logged)",
        **COMMON,
    }
)
@guard
def promote(
    c: Context,
    force: bool = False,
    reason: str = "",
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Copy the validated beta bytes into Update/App, write manifest.json + manifest_<v>.json, sync."""
    from .promote import promote as run

    session = _session(c, target, "promote", json, dry_run)
    with task_lock(session):
        run(session, force=force, reason=reason)


@task(
    help={"to": "the X.Y.Z.W to restore", "yes": "confirm: stable clients are offered that version", **COMMON}
)
@guard
def rollback(
    c: Context,
    to: str,
    yes: bool = False,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Republish an archived stable version into the fixed channels (Sparkle never downgrades)."""
    from .rollback import rollback as run

    session = _session(c, target, "rollback", json, dry_run)
    with task_lock(session):
        run(session, to, yes=yes)


@task(help={"channel": "stable (default) or beta", **COMMON})
@guard
def verify(
    c: Context, channel: str = "stable", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """The rulebook's definition of done as a table (exit 1 naming each failure)."""
    from .verify import verify as run

    run(_session(c, target, "verify", json, dry_run), _channel(channel))


@task(help=COMMON)
@guard
def status(c: Context, target: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Desired, runtime and served state side by side; exit 1 on drift."""
    from .status import status as run

    run(_session(c, target, "status", json, dry_run))


@task(help=COMMON)
@guard
def sync(c: Context, target: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Send the desired bundle (manifests/) to the VM in one remote call."""
    from .sync import sync_task

    session = _session(c, target, "sync", json, dry_run)
    with task_lock(session):
        sync_task(session)


@task(name="open", help={"reason": "why the beta window opens (logged)", **COMMON})
@guard
def staging_open(
    c: Context, reason: str = "", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Open the beta gate (UPDATE_BETA_ENABLED=true) and start staging."""
    from .staging import set_gate

    session = _session(c, target, "staging.open", json, dry_run)
    with task_lock(session):
        set_gate(session, True, reason)


@task(name="close", help={"reason": "why the beta window closes (logged)", **COMMON})
@guard
def staging_close(
    c: Context, reason: str = "", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """Close the beta gate: /updates/appcast-beta.xml answers 404."""
    from .staging import set_gate

    session = _session(c, target, "staging.close", json, dry_run)
    with task_lock(session):
        set_gate(session, False, reason)


@task(name="validate", help=COMMON)
@guard
def staging_validate(
    c: Context, target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """The rulebook's step B on staging; writes validation_beta.json for the beta fingerprint."""
    from .staging import validate

    session = _session(c, target, "staging.validate", json, dry_run)
    with task_lock(session):
        validate(session)


@task(
    help={
        "target": TARGET,
        "size_mb": "size of the demo dmg in MB (the pkg is 2/3 of it)",
        "keep": "leave the sandbox running afterwards",
    }
)
@guard
def demo(c: Context, target: str | None = None, size_mb: int = 24, keep: bool = True) -> None:
    """A whole release on the sandbox: bump → publish → staging → promote → verify → heal."""
    from .demo import run_demo

    chosen = target or c.config.get("nexy", {}).get("target") or DEFAULT_TARGET
    run_demo(ROOT, chosen, size_mb=size_mb, keep=keep)


staging = Collection("staging", staging_open, staging_close, staging_validate)
PIPELINE_TASKS = (preflight, publish, promote, rollback, verify, status, sync, demo)
