"""nexy-release tasks. ``./inv --list`` shows them; ``./inv --help TASK`` shows a task's options.

The folders say where each task's work is done: ``pipeline`` (the release itself), ``staging.*``
(the beta window), ``sandbox.*`` (the loopback stand-in for the VM and GitHub), and ``dev``.
Every task takes ``--target`` (``sandbox`` by default, ``production`` named explicitly, or a path).
"""

from __future__ import annotations

from invoke.collection import Collection

from release.target import DEFAULT_TARGET

from . import dev, pipeline
from .sandbox import sandbox
from .staging import staging

__all__ = ["ns"]

ns = Collection(*pipeline.TASKS, *dev.TASKS, staging, sandbox)
ns.configure({"nexy": {"target": DEFAULT_TARGET}, "run": {"echo": False}})
