"""``vm.*``: put the VM side (reconciler and feeds) on the VM, upgrade it, check it.

Rules: the work is ``release.steps.vm``'s; these tasks only read the options. ``install`` and
``upgrade`` change the VM (``lock=True``, one journal line); ``check`` only reads. On the sandbox
the reconciler config is written first, as ``sandbox.up`` writes it (from the target), and a
running sandbox is restarted onto a build just installed (``sandbox.up`` runs the VM side from it).
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context

from release.parts.session import Session
from schemas import Target

from ._options import COMMON, ROOT, load_target_option, task

__all__ = ["vm_check_task", "vm_install_task", "vm_upgrade_task"]

HELP = {
    **COMMON,
    "source": "the checkout to build the VM side from (default: this checkout)",
    "root": "install into an image tree below this directory instead of / (systemd steps skip)",
}


def _install(loaded: Target, mode: str, dry_run: bool, json: bool, source: str, root: str) -> None:
    from release.steps.vm import vm_install

    if loaded.remote.kind == "local" and not dry_run:
        from release.outside.sandbox_layout import sandbox_paths
        from release.sandbox.tree import write_reconciler_config

        write_reconciler_config(loaded, sandbox_paths(loaded))
    with Session.open(loaded, f"vm.{mode}", json=json, dry_run=dry_run, lock=True) as session:
        report = vm_install(session, mode=mode, source=Path(source) if source else ROOT, root=root)
        if loaded.remote.kind == "local" and report.get("action") in ("installed", "upgraded"):
            _restart_sandbox(session)


def _restart_sandbox(session: Session) -> None:
    """A running sandbox restarts onto the build just made current, as systemd restarts the units."""
    from release.sandbox import down, status, up

    target = session.target
    if not any(process["alive"] for process in status(target)["processes"].values()):
        return
    session.say("restarting the sandbox onto the new build (./inv sandbox.down, ./inv sandbox.up)")
    down(target, say=session.say)
    up(target, say=session.say)


@task(name="install", help=HELP)
def vm_install_task(
    c: Context,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    source: str = "",
    root: str = "",
) -> None:
    """Build the VM side from the checkout and install it on the VM (a second run is a skip).

    Example: ./inv vm.install --target production --dry-run
    """
    _install(load_target_option(c, target), "install", dry_run, json, source, root)


@task(name="upgrade", help=HELP)
def vm_upgrade_task(
    c: Context,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    source: str = "",
    root: str = "",
) -> None:
    """Install the new build beside the old, switch `current`, restart, check; switch back on failure.

    Example: ./inv vm.upgrade --target production
    """
    _install(load_target_option(c, target), "upgrade", dry_run, json, source, root)


@task(name="check", help=HELP)
def vm_check_task(
    c: Context,
    target: str | None = None,
    dry_run: bool = False,
    json: bool = False,
    source: str = "",
    root: str = "",
) -> None:
    """The VM side's build, unit files, config and exposure against this checkout's (exit 1 on any difference).

    Example: ./inv vm.check --target production --json
    """
    from release.steps.vm import vm_check

    loaded = load_target_option(c, target)
    with Session.open(loaded, "vm.check", json=json, dry_run=dry_run) as session:
        vm_check(session, source=Path(source) if source else ROOT, root=root)
