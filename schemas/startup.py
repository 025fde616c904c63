"""Start-up of the short-lived command-line processes: ``./inv`` (``python -m tasks``) and
``python -m reconciler`` (the sandbox's remote runs one per call, so tests run it hundreds of times).

Rules: ``skip_httpx_cli()`` runs first in such an entry point, before anything imports httpx, and
changes nothing else. httpx's ``__init__`` imports its own command-line client (``httpx._main``:
click, pygments, rich.syntax and rich.progress), about 50 ms of CPU per process, and none of our code
runs that client. A ``None`` in ``sys.modules`` makes that one import fail with ImportError, which
httpx catches: its ``httpx.main`` becomes a stub that says the CLI is not installed, and every other
name of httpx is the same. Already imported (a test process that imported httpx first), it is kept.
"""

from __future__ import annotations

import sys

__all__ = ["skip_httpx_cli"]

HTTPX_CLI = "httpx._main"


def skip_httpx_cli() -> None:
    sys.modules.setdefault(HTTPX_CLI, None)  # type: ignore[arg-type]  # None is how sys.modules blocks an import
