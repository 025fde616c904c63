"""Read-only looks at a release: ``diff`` (desired against the VM), ``history`` (the journal) and
``doctor`` (is this workstation ready).

Rules: tasks are thin (parse options, open one read-only ``Session``, call one step in
``release/steps/``); none takes the workstation lock or writes a file; exit 0 fine, 1 something
differs or a required check failed, 2 bad input. They sit at the top level (``./inv diff``).
"""

from __future__ import annotations

from invoke.context import Context

from release.parts.session import Session

from ._options import COMMON, JSON, ROOT, TARGET, load_target_option, target_option, task

__all__ = ["diff", "doctor", "history"]


@task(help=COMMON)
def diff(c: Context, target: str | None = None, dry_run: bool = False, json: bool = False) -> None:
    """Desired (manifests/) against the VM, resource by resource; exit 1 when anything differs.

    Example: ./inv diff --target production
    """
    from release.steps.diff import diff as run

    with Session.open(load_target_option(c, target), "diff", json=json, dry_run=dry_run) as session:
        run(session)


@task(help={"limit": "show the last N entries, 0 for all", "json": JSON, "target": TARGET})
def history(c: Context, limit: str = "20", json: bool = False, target: str | None = None) -> None:
    """The release journal as a table: when, who, what, version, result.

    Example: ./inv history --limit 5
    """
    from release.steps.history import history as run
    from release.steps.history import parse_limit

    count = parse_limit(limit)
    with Session.open(load_target_option(c, target), "history", json=json) as session:
        run(session, count)


@task(help={"json": JSON, "target": TARGET})
def doctor(c: Context, json: bool = False, target: str | None = None) -> None:
    """Is this workstation ready: tools, credentials, target file, ports, signing key, endpoints.

    Example: ./inv doctor --target production
    """
    from release.sandbox import status as sandbox_status
    from release.steps.doctor import doctor as run

    run(target_option(c, target), ROOT, json=json, processes=lambda tgt: sandbox_status(tgt)["processes"])
