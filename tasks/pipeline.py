"""The release: bump, preflight, publish, promote, rollback, verify, status, sync, and the demo.

Rules: tasks are thin (parse options, open one ``Session`` context, call one function of
``release/``); state-changing tasks open it with ``lock=True`` (the workstation lock, none on a dry
run); exit 0 done, 1 a check failed, 2 bad input. Every ``@task`` here is listed by ``./inv``.
"""

from __future__ import annotations

import sys

from invoke.context import Context

from release.console import out_console
from release.errors import ReleaseError
from release.parts.session import Session
from schemas import Channel

from ._options import COMMON, JSON, ROOT, TARGET, load_target_option, parse_channel, target_option, task

# Update controls, the same on publish --channel beta and promote (release.parts.controls parses them).
CONTROLS = {
    "phased_rollout_interval": "sparkle:phasedRolloutInterval: seconds between Sparkle's 7 rollout groups",
    "critical": "sparkle:criticalUpdate: clients show the update as critical",
    "critical_below": "with --critical: critical only for hosts older than this X.Y.Z.W",
    "minimum_autoupdate_version": "sparkle:minimumAutoupdateVersion: hosts below X.Y.Z.W update only by hand",
}

__all__ = [
    "adoption",
    "bump",
    "demo",
    "preflight",
    "promote",
    "publish",
    "rollback",
    "status",
    "sync",
    "verify",
]


@task(
    help={
        "version": "the new X.Y.Z.W, or 'undo': back to the newest published version (only while VERSION was never published)",
        "yes": "confirm a big jump (more than one major, a component +1,000) or a step back",
        "dry_run": "print the diff, change nothing",
        "target": TARGET,
        "json": JSON,
    },
)
def bump(
    c: Context,
    version: str,
    yes: bool = False,
    dry_run: bool = False,
    target: str | None = None,
    json: bool = False,
) -> None:
    """Set VERSION and every version-linked file to a newer X.Y.Z.W (all or nothing); `bump undo` takes it back.

    Example: ./inv bump 2.0.0.16 --dry-run
    """
    from release.console import emit_json
    from release.parts.versioning import apply_changes, current_version, plan_bump, render_diff, undo_version

    tgt = load_target_option(c, target)
    workspace = tgt.path(tgt.workspace)
    previous = current_version(workspace)
    # invoke's positionals are required, so the undo is a word where the version goes.
    undo = version == "undo"
    if undo:
        version = undo_version(tgt)
    changes = plan_bump(tgt, version, yes=yes or undo)
    console = out_console()
    if not dry_run:
        apply_changes(changes)
    if json:
        files = [str(change.path.relative_to(workspace)) for change in changes]
        document = {"version": version, "previous": previous, "dry_run": dry_run, "files": files}
        emit_json(document | ({"diff": render_diff(changes, workspace)} if dry_run else {}))
        return
    if dry_run:
        sys.stdout.write(render_diff(changes, workspace))
        console.print(f"dry run: {len(changes)} file(s) would change; nothing was written")
        return
    for change in changes:
        console.print(f"updated {change.path.relative_to(workspace)}")
    console.print(f"version is now {version}")


@task(help={"channel": "beta or stable", **COMMON})
def preflight(
    c: Context, channel: str = "beta", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """The pre-release checklist (docs/rules.md#r11) as a table (exit 1 naming each failed item).

    Example: ./inv preflight --channel beta
    """
    from release.steps.preflight import run_preflight

    with Session.open(load_target_option(c, target), "preflight", json=json, dry_run=dry_run) as session:
        chosen = parse_channel(channel)
        checks = run_preflight(session, chosen, source=ROOT)
        session.finish_checks(
            f"preflight ({chosen.value}, {session.target.name})",
            checks,
            {"ok": all(check.ok for check in checks), "checks": [check.model_dump() for check in checks]},
            "preflight failed",
        )


@task(
    help={
        "channel": "beta (stable is refused: beta → staging.validate → promote)",
        "yes": "go on although an inbox archive is the previous release's bytes",
        **CONTROLS,
        **COMMON,
    }
)
def publish(
    c: Context,
    channel: str = "beta",
    yes: bool = False,
    phased_rollout_interval: str | None = None,
    critical: bool = False,
    critical_below: str | None = None,
    minimum_autoupdate_version: str | None = None,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Sign and upload the beta inbox into UpdateBeta/AppBeta, write manifest_beta.json, sync.

    Example: ./inv publish --dry-run
    """
    from release.parts.controls import parse_controls
    from release.steps.publish import FUNNEL
    from release.steps.publish import publish as run

    controls = parse_controls(
        phased_rollout_interval=phased_rollout_interval,
        critical=critical,
        critical_below=critical_below,
        minimum_autoupdate_version=minimum_autoupdate_version,
    )
    loaded = load_target_option(c, target)
    chosen = parse_channel(channel)
    if chosen is Channel.STABLE:
        raise ReleaseError(FUNNEL)  # refused before anything, even the lock, is touched
    with Session.open(loaded, "publish", json=json, dry_run=dry_run, lock=True) as session:
        run(session, chosen, controls=controls, yes=yes)


@task(
    help={
        "force": "promote without a passing validation (needs --reason)",
        "reason": "why validation is skipped (logged)",
        **CONTROLS,
        **COMMON,
    }
)
def promote(
    c: Context,
    force: bool = False,
    reason: str = "",
    phased_rollout_interval: str | None = None,
    critical: bool = False,
    critical_below: str | None = None,
    minimum_autoupdate_version: str | None = None,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Copy the validated beta bytes (and signatures) into Update/App, write manifest.json + manifest_<v>.json, sync.

    Example: ./inv promote --dry-run
    """
    from release.parts.controls import parse_controls
    from release.steps.promote import promote as run

    controls = parse_controls(
        phased_rollout_interval=phased_rollout_interval,
        critical=critical,
        critical_below=critical_below,
        minimum_autoupdate_version=minimum_autoupdate_version,
    )
    loaded = load_target_option(c, target)
    with Session.open(loaded, "promote", json=json, dry_run=dry_run, lock=True) as session:
        run(session, force=force, reason=reason, controls=controls)


@task(
    help={
        "to": "the X.Y.Z.W to restore",
        "yes": "confirm: the channel's clients are offered that version",
        "channel": "stable, or beta (a staged rollback: UpdateBeta/AppBeta, stable untouched)",
        **COMMON,
    }
)
def rollback(
    c: Context,
    to: str,
    yes: bool = False,
    channel: str = "stable",
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Republish an archived version into the channel's fixed releases (Sparkle never downgrades).

    Example: ./inv rollback --to 2.0.0.15 --dry-run
    """
    from release.steps.rollback import rollback as run

    loaded = load_target_option(c, target)
    chosen = parse_channel(channel)
    with Session.open(loaded, "rollback", json=json, dry_run=dry_run, lock=True) as session:
        run(session, to, yes=yes, channel=chosen)


@task(help={"channel": "stable or beta", **COMMON})
def verify(
    c: Context, channel: str = "stable", target: str | None = None, dry_run: bool = False, json: bool = False
) -> None:
    """The definition of done (docs/rules.md#r9) as a table (exit 1 naming each failure).

    Example: ./inv verify --channel beta
    """
    from release.steps.verify import verify as run

    with Session.open(load_target_option(c, target), "verify", json=json, dry_run=dry_run) as session:
        run(session, parse_channel(channel))


@task(help=COMMON)
def status(c: Context, target: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Desired, runtime and served state side by side; exit 1 on drift.

    Example: ./inv status --json
    """
    from release.steps.status import status as run

    with Session.open(load_target_option(c, target), "status", json=json, dry_run=dry_run) as session:
        run(session)


@task(
    help={
        "channel": "stable (production feed) or beta (staging feed)",
        "since": "promote (the last promote; beta: publish) or a duration: 30m, 2h, 1d, 1w",
        **COMMON,
    }
)
def adoption(
    c: Context,
    channel: str = "stable",
    since: str = "promote",
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
) -> None:
    """Share of appcast checks by client version since the last promote, the version offered, the phased group.

    Example: ./inv adoption --since 1d
    """
    from release.steps.adoption import adoption as run

    with Session.open(load_target_option(c, target), "adoption", json=json, dry_run=dry_run) as session:
        run(session, parse_channel(channel), since)


@task(help=COMMON)
def sync(c: Context, target: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Send the desired bundle (manifests/) to the VM in one remote call.

    Example: ./inv sync --dry-run
    """
    from release.steps.sync import sync_task

    loaded = load_target_option(c, target)
    with Session.open(loaded, "sync", json=json, dry_run=dry_run, lock=True) as session:
        sync_task(session)


@task(
    help={
        "target": TARGET,
        "size_mb": "size of the demo dmg in MB, 1 to 4096 (the pkg is 2/3 of it)",
        "keep": "leave the sandbox running afterwards",
    }
)
def demo(c: Context, target: str | None = None, size_mb: str = "24", keep: bool = True) -> None:
    """A whole release on the sandbox: bump → publish → staging → promote → verify → heal.

    Example: ./inv demo --size-mb 8 --no-keep
    """
    from release.steps.demo import run_demo

    # Parsed here, not by invoke: its int cast dies with a traceback (exit 1) on "abc".
    size = int(size_mb) if size_mb.strip().isdigit() else 0
    if not 1 <= size <= 4096:
        raise ReleaseError(f"--size-mb {size_mb!r}: use a whole number of MB from 1 to 4096")
    run_demo(ROOT, target_option(c, target), size_mb=size, keep=keep)
