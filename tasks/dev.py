"""Development: export the JSON Schemas, run the checks and tests, re-pin the lock.

Rules: ``test`` is exactly what CI runs (ruff, ruff format --check, mypy, lint-imports, pytest).
Before pytest, ``test`` compiles the project's packages to bytecode (``__pycache__``, ignored by
git), as pip does for an installed build: the suite starts about 1,400 Python processes, and where
``PYTHONDONTWRITEBYTECODE`` is set (as on this project's machines) each of them would otherwise compile every
module it imports from source, 11 to 18 % of its instructions (docs/performance.md).
``--workers auto`` is one worker per usable core plus one: a worker spends part of each test waiting
on the real processes it started, and the extra one keeps the cores busy meanwhile (2 cores: 317 s
with 2 workers, 259 s with 3, and 4 left the CPU idle for only 16 s; docs/performance.md).
"""

from __future__ import annotations

import os

from invoke.context import Context

from release.console import out_console
from release.errors import ReleaseError

from ._options import ROOT, task

__all__ = ["lock", "schemas", "test"]

# The packages the suite's processes import: tasks and the three sides with their shared schemas.
COMPILED = ("tasks", "schemas", "release", "reconciler", "feed")


@task(help={"check": "exit 1 if the exported files are stale, write nothing"})
def schemas(c: Context, check: bool = False) -> None:
    """Export the JSON Schemas into schemas/json/ and the config references into docs/.

    Example: ./inv schemas --check
    """
    from . import docref
    from .jsonschemas import JSON_DIR, export, stale

    if check:
        names = stale()
        if names:
            raise ReleaseError(f"stale JSON schemas: {', '.join(names)}; run ./inv schemas", code=1)
        pages = docref.stale()
        if pages:
            raise ReleaseError(f"stale generated reference in {', '.join(pages)}; run ./inv schemas", code=1)
        out_console().print("JSON schemas are current")
        return
    changed = export()
    out_console().print(f"{len(changed)} schema file(s) written to {JSON_DIR.relative_to(ROOT)}")
    for page in docref.export():
        out_console().print(f"generated reference written to {page}")


@task(
    help={
        "k": "only tests matching this pytest -k expression (default: all)",
        "quick": "skip ruff, mypy and lint-imports (default: run them)",
        "workers": "pytest-xdist workers: a number, or auto for one per core plus one (default: auto)",
        "stress": "run pytest beside this many CPU-bound processes, the busy machine (default: 0)",
    }
)
def test(c: Context, k: str = "", quick: bool = False, workers: str = "auto", stress: str = "0") -> None:
    """Run ruff, mypy, the import contracts and the whole pytest suite.

    With ``--stress 2`` the suite runs beside two busy cores, as on CI's busiest day.

    Example: ./inv test --stress 2
    """
    from ._load import cpu_load

    if workers != "auto" and not (workers.isdigit() and int(workers) >= 0):
        raise ReleaseError(f"--workers {workers!r}: use auto or a whole number (0 runs in one process)")
    # Parsed here, not by invoke: its int cast dies with a traceback on "abc".
    if not stress.isdigit():
        raise ReleaseError(f"--stress {stress!r}: use a whole number of CPU-bound processes")
    if not quick:
        c.run("ruff check .", echo=True)
        c.run("ruff format --check .", echo=True)
        c.run("mypy", echo=True)
        c.run("lint-imports", echo=True)
    c.run(f"python -m compileall -q {' '.join(COMPILED)}", echo=True)
    selection = f" -k {k!r}" if k else ""
    # loadfile: a test file's tests run on one worker, so its module-scoped sandbox starts once.
    count = str(_auto_workers()) if workers == "auto" else workers
    spread = "" if count == "0" else f" -n {count} --dist loadfile"
    with cpu_load(int(stress)):
        c.run(f"python -m pytest{spread}{selection}", echo=True, pty=False)


def _auto_workers() -> int:
    """One per core this process may run on, plus one."""
    # sched_getaffinity sees a container's CPU set; macOS has no such call.
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (usable or 1) + 1


@task(help={"check": "prove every pin has a hashed wheel for each platform we run on; write nothing"})
def lock(c: Context, check: bool = False) -> None:
    """Re-pin requirements.lock (workstation) and requirements-vm.lock (VM), then check them; needs PyPI.

    Example: ./inv lock --check
    """
    # ./inv runs tasks/lockcheck.py itself (it must work when the tasks cannot be imported); this
    # task is the same thing for `python -m tasks lock` and for --list.
    from .lockcheck import main

    status = main(["--check"] if check else [])
    if status != 0:
        raise ReleaseError("./inv lock failed: see the lines above", code=status)
