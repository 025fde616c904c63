"""nexy-release tasks. ``./inv --list`` shows them; ``./inv --help TASK`` shows a task's options.

The folders say where each task's work is done: ``pipeline`` (the release itself), ``staging.*``
(the beta window), ``sandbox.*`` (the loopback stand-in for the VM and GitHub), ``vm.*`` (the VM side put on the VM), ``inspect`` (read-only looks: diff, history,
doctor), and ``dev``.
Every task takes ``--target`` (``sandbox`` by default, ``production`` named explicitly, or a path).

Rules: a task is registered by being defined: the namespace is built from the modules
(``Collection.from_module`` takes every ``@task`` a module defines), with no list to keep in step;
``pipeline``, ``inspect`` and ``dev`` tasks sit at the top level, ``staging``, ``sandbox`` and ``vm`` are folders.
"""

from __future__ import annotations

from schemas.startup import skip_httpx_cli

skip_httpx_cli()  # before the imports below bring httpx in

from invoke.collection import Collection  # noqa: E402

from release.parts.target import DEFAULT_TARGET  # noqa: E402

from . import dev, inspect, pipeline, sandbox, staging, vm  # noqa: E402

__all__ = ["ns"]


def _namespace() -> Collection:
    root = Collection()
    for module in (pipeline, inspect, dev):
        for name, declared in Collection.from_module(module).tasks.items():
            root.add_task(declared, name)
    for module in (staging, sandbox, vm):
        root.add_collection(Collection.from_module(module))
    root.configure({"nexy": {"target": DEFAULT_TARGET}, "run": {"echo": False}})
    return root


ns = _namespace()
