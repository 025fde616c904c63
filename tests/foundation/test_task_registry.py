"""A task is registered by being defined: ``./inv --list`` shows every task function in ``tasks/``."""

from __future__ import annotations

import ast
import re

import pytest
from invoke.context import Context

import tasks
from tasks import pipeline, staging
from tasks._options import task
from tests.conftest import REPO, run_inv

# pipeline's, inspect's and dev's tasks sit at the top level; every other public module is a folder (tasks/__init__.py).
TOP_LEVEL = {"pipeline", "inspect", "dev"}


def _decorator_name(node: ast.expr) -> str:
    call = node.func if isinstance(node, ast.Call) else node
    return call.id if isinstance(call, ast.Name) else call.attr if isinstance(call, ast.Attribute) else ""


def _cli_name(function: ast.FunctionDef) -> str:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call) and _decorator_name(decorator) == "task":
            for keyword in decorator.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return function.name.replace("_", "-")


def _task_functions() -> list[str]:
    """Every top-level function in a public module of tasks/ whose first parameter is ``c: Context``
    (how invoke calls a task), as its command-line name; decorated or not."""
    names = []
    for path in sorted((REPO / "tasks").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef) or not node.args.args:
                continue
            first = node.args.args[0].annotation
            if isinstance(first, ast.Name) and first.id == "Context":
                folder = "" if path.stem in TOP_LEVEL else f"{path.stem}."
                names.append(folder + _cli_name(node))
    return names


def test_list_shows_every_task_function_defined_in_tasks() -> None:
    defined = _task_functions()
    assert len(defined) >= 18, defined  # the parse found the tasks, not an empty list
    listing = run_inv("--list")
    assert listing.returncode == 0, listing.stderr
    # A task's line is "  name   its help"; a help's wrapped lines are indented further.
    listed = set(re.findall(r"^  (\S+)", listing.stdout, re.MULTILINE))
    assert sorted(set(defined) - listed) == []
    assert sorted(listed - set(defined)) == []


def test_a_task_defined_in_a_module_is_collected_without_any_list(monkeypatch: pytest.MonkeyPatch) -> None:
    @task(help={"reason": "why"})
    def rehearse(c: Context, reason: str = "") -> None:
        """A task nobody listed anywhere."""

    @task(name="rehearse")
    def staging_rehearse(c: Context) -> None:
        """The same in a folder."""

    monkeypatch.setattr(pipeline, "rehearse", rehearse, raising=False)
    monkeypatch.setattr(staging, "staging_rehearse", staging_rehearse, raising=False)
    names = tasks._namespace().task_names
    assert "rehearse" in names
    assert "staging.rehearse" in names
    assert set(tasks.ns.task_names) < set(names)
