"""nexy-release tasks. ``./inv --list`` shows them; ``./inv --help TASK`` shows a task's options.

Every task takes ``--target`` (``sandbox`` by default, ``production`` named explicitly, or a path);
the invoke config key ``nexy.target`` (env ``INVOKE_NEXY_TARGET``) changes the default.
"""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from release.console import guard, out_console
from release.errors import ReleaseError
from release.target import DEFAULT_TARGET, load_target
from schemas import Target

ROOT = Path(__file__).resolve().parent
TARGET_HELP = "sandbox (default), production, or a path to a target YAML file"


def _target(c: Context, name: str | None) -> Target:
    chosen = name or c.config.get("nexy", {}).get("target") or DEFAULT_TARGET
    return load_target(chosen, ROOT)


@task(help={"version": "the new X.Y.Z.W", "dry_run": "print the diff, change nothing", "target": TARGET_HELP})
@guard
def bump(c: Context, version: str, dry_run: bool = False, target: str | None = None) -> None:
    """Set VERSION and every version-linked file to a newer X.Y.Z.W (all or nothing)."""
    from release.versioning import apply_changes, plan_bump, render_diff

    tgt = _target(c, target)
    changes = plan_bump(tgt, version)
    console = out_console()
    workspace = tgt.path(tgt.workspace)
    if dry_run:
        sys.stdout.write(render_diff(changes, workspace))
        console.print(f"dry run: {len(changes)} file(s) would change; nothing was written")
        return
    apply_changes(changes)
    for change in changes:
        console.print(f"updated {change.path.relative_to(workspace)}")
    console.print(f"version is now {version}")


@task(help={"check": "exit 1 if the exported files are stale, write nothing"})
@guard
def schemas(c: Context, check: bool = False) -> None:
    """Export the JSON Schema of every shared document into schemas/json/."""
    from schemas.export import JSON_DIR, export, stale

    if check:
        names = stale()
        if names:
            raise ReleaseError(f"stale JSON schemas: {', '.join(names)}; run ./inv schemas", code=1)
        out_console().print("JSON schemas are current")
        return
    changed = export()
    out_console().print(f"{len(changed)} schema file(s) written to {JSON_DIR.relative_to(ROOT)}")


@task(help={"k": "only tests matching this pytest -k expression", "quick": "skip ruff and mypy"})
def test(c: Context, k: str = "", quick: bool = False) -> None:
    """Run ruff, mypy and the whole pytest suite."""
    if not quick:
        c.run("ruff check .", echo=True)
        c.run("ruff format --check .", echo=True)
        c.run("mypy", echo=True)
    selection = f" -k {k!r}" if k else ""
    c.run(f"python -m pytest{selection}", echo=True, pty=False)


@task
def lock(c: Context) -> None:
    """Re-pin requirements.lock (with hashes) from pyproject.toml; needs network to PyPI."""
    import tempfile

    with tempfile.TemporaryDirectory() as tools:
        # uv lives in a throwaway directory so the project's venv stays exactly what the lock says.
        c.run(f"python -m pip install -q --target {tools} uv", echo=True)
        c.run(
            f"PYTHONPATH={tools} python -m uv pip compile pyproject.toml requirements-build.in --extra test "
            "--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 "
            "-o requirements.lock -q",
            echo=True,
        )


ns = Collection(bump, schemas, test, lock)
ns.configure({"nexy": {"target": DEFAULT_TARGET}, "run": {"echo": False}})


# --- sandbox.* (the local stand-in for the VM, the feeds and the asset store) -------------------


@task(name="up", help={"target": TARGET_HELP})
@guard
def sandbox_up(c: Context, target: str | None = None) -> None:
    """Start the sandbox (reconciler, production and staging feeds over TLS); running parts are kept."""
    from release.sandbox import status, up

    console = out_console()
    tgt = _target(c, target)
    up(tgt, say=console.print)
    for name, process in status(tgt)["processes"].items():
        console.print(f"{name}: pid {process['pid']}" + (f"  {process['url']}" if process["url"] else ""))


@task(name="down", help={"target": TARGET_HELP})
@guard
def sandbox_down(c: Context, target: str | None = None) -> None:
    """Stop the sandbox processes this tool started (nothing else is ever signalled)."""
    from release.sandbox import down

    down(_target(c, target), say=out_console().print)


@task(name="status", help={"json": "one JSON document on stdout", "target": TARGET_HELP})
@guard
def sandbox_status(c: Context, json: bool = False, target: str | None = None) -> None:
    """Show the sandbox's URLs and whether each process is alive (exit 0 either way)."""
    from release.console import emit_json
    from release.sandbox import status

    document = status(_target(c, target))
    if json:
        emit_json(document)
        return
    from rich.table import Table

    table = Table(title=f"sandbox {document['dir']}", title_justify="left")
    for column in ("process", "alive", "pid", "url", "log"):
        table.add_column(column, overflow="fold", no_wrap=column in ("process", "url"))
    for name, process in document["processes"].items():
        alive = "[green]yes[/]" if process["alive"] else "[red]no[/]"
        log = Path(process["log"]).relative_to(document["dir"])
        table.add_row(name, alive, str(process["pid"] or "–"), process["url"] or "–", str(log))
    out_console().print(table)
    out_console().print(f"assets: {document['download_url']}  (CA: {document['ca_bundle']})")


ns.add_collection(Collection("sandbox", sandbox_up, sandbox_down, sandbox_status))


# --- the release pipeline (preflight, publish, staging.*, promote, rollback, verify, status, sync, demo) ---

from release.tasks_pipeline import PIPELINE_TASKS, staging  # noqa: E402

for _pipeline_task in PIPELINE_TASKS:
    ns.add_task(_pipeline_task)
ns.add_collection(staging)
