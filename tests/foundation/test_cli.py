"""The command line itself (tasks/__main__.py, tasks/_options.py, tasks/_cli_errors.py), driven
through the real ``./inv``: no flag that reads as "dry" reaches a task, one meaning per short flag,
invoke's parser errors in the tool's ``error:`` style."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from schemas import Target
from tasks import ns
from tasks._options import SHORT_FLAGS
from tests.conftest import run_inv


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


@pytest.mark.parametrize("flag", ["--dry", "-R"])
@pytest.mark.parametrize("where", ["before", "after"])
def test_invokes_dry_flag_is_refused_and_nothing_runs(
    sandbox_target: tuple[Target, Path], flag: str, where: str
) -> None:
    target, target_file = sandbox_target
    root = target.path(".")
    before = _files(root)
    task = ["staging.open", "--target", str(target_file)]
    done = run_inv(*([flag, *task] if where == "before" else [*task, flag]), timeout=60)
    assert done.returncode == 2, done
    assert done.stderr == (
        f"error: {flag} is invoke's echo-only mode and would still run the task; "
        "use the task's own --dry-run (./inv staging.open --dry-run)\n"
    )
    assert done.stdout == ""
    # No gate written, no journal line, no lock: the refusal comes before the task.
    assert _files(root) == before


def test_invokes_dry_flag_is_not_offered() -> None:
    core = run_inv("--help").stdout
    assert "--dry" not in core
    assert "-R" not in core


def test_debug_is_long_only_and_minus_d_before_a_task_is_refused(sandbox_target: tuple[Target, Path]) -> None:
    target, target_file = sandbox_target
    root = target.path(".")
    before = _files(root)
    assert "  --debug " in run_inv("--help").stdout
    done = run_inv("-d", "staging.open", "--target", str(target_file), timeout=60)
    assert done.returncode == 2, done
    assert done.stderr == (
        "error: -d is a task's --dry-run: give it after the task's name (./inv staging.open -d); "
        "--debug is long only\n"
    )
    assert _files(root) == before


def test_every_short_flag_means_one_option_in_every_task() -> None:
    # The contexts ./inv's parser is built from (invoke's Program._make_parser).
    contexts = ns.to_contexts()
    assert len(contexts) >= 18
    for context in contexts:
        for argument in context.args.values():
            long, *shorts = argument.names
            # A one-letter option (test -k) is its own name, no short flag beside a long one.
            assert all(SHORT_FLAGS.get(f"-{short}") == f"--{long}" for short in shorts), (
                context.name,
                argument,
            )
            wanted = [short for short, name in SHORT_FLAGS.items() if name == f"--{long}"]
            assert [f"-{short}" for short in shorts] == wanted, (context.name, argument)


def test_rollback_minus_t_is_the_target(sandbox_target: tuple[Target, Path]) -> None:
    _, target_file = sandbox_target
    short = run_inv("rollback", "-t", str(target_file), "--to", "2.0.0.15", "--dry-run", timeout=60)
    long = run_inv("rollback", "--target", str(target_file), "--to", "2.0.0.15", "--dry-run", timeout=60)
    # The target was read (no released 2.0.0.15 in it), exactly as with --target.
    assert "no manifest_2.0.0.15.json" in short.stderr, short
    assert (short.returncode, short.stdout, short.stderr) == (long.returncode, long.stdout, long.stderr)
    assert "--to=STRING " in run_inv("--help", "rollback").stdout  # long only


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["publish", "--chanel", "beta"],
            "error: unknown option --chanel for publish; did you mean --channel?",
        ),
        (["publish", "--channel"], "error: --channel needs a value"),
        (["pubish"], "error: no task 'pubish'; did you mean publish?"),
        (["publish", "stging.open"], "error: no task 'stging.open'; did you mean staging.open?"),
        (["rollback"], "error: rollback needs --to (./inv --help rollback)"),
        (["publish", "--zzzz"], "error: unknown option --zzzz for publish (see ./inv --help publish)"),
    ],
)
def test_parser_errors_are_one_error_line_exit_2(
    sandbox_target: tuple[Target, Path], argv: list[str], line: str
) -> None:
    target, target_file = sandbox_target
    root = target.path(".")
    before = _files(root)
    done = run_inv(*argv, "--target", str(target_file), timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")
    assert _files(root) == before


def test_help_for_an_unknown_task_is_one_error_line() -> None:
    done = run_inv("--help", "pubish")
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "error: no task 'pubish'; did you mean publish?\n",
    )


TASK_NAMES = sorted(context.name for context in ns.to_contexts())


def test_every_option_with_a_default_ends_its_help_with_it() -> None:
    for context in ns.to_contexts():
        for argument in context.args.values():
            helped = f"{context.name} --{argument.names[0]}: {argument.help!r}"
            if argument.names[0] == "target":
                assert argument.help.endswith("(default: sandbox, or the config's nexy.target)"), helped
            elif argument.default is True:
                assert argument.help.endswith("(default: on)"), helped
            elif isinstance(argument.default, str) and argument.default:
                assert argument.help.endswith(f"(default: {argument.default})"), helped
            # Said once, and last.
            assert argument.help.count("(default:") <= 1, helped
            assert "(default:" not in argument.help or argument.help.endswith(")"), helped


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_tasks_help_has_one_example(name: str) -> None:
    done = run_inv("--help", name)
    assert done.returncode == 0, done.stderr
    examples = re.findall(r"^\s*Example: (\./inv .*)$", done.stdout, re.MULTILINE)
    assert len(examples) == 1, done.stdout
    assert shlex.split(examples[0])[1] == name, examples


@pytest.mark.parametrize("task", ["rollback", "bump"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_task_then_help_is_that_tasks_help_even_with_a_positional(task: str, flag: str) -> None:
    done = run_inv(task, flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: ./inv [--core-opts] {task} ") and "Example: ./inv" in done.stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("-T", "abc", "status"), "error: -T needs a whole number, not 'abc'"),
        (("--command-timeout=1.5x", "status"), "error: --command-timeout needs a whole number, not '1.5x'"),
    ],
)
def test_a_value_invoke_cannot_cast_is_one_error_line(args: tuple[str, ...], line: str) -> None:
    done = run_inv(*args)
    assert (done.returncode, done.stderr.strip(), done.stdout) == (2, line, "")


def test_help_into_a_closed_pipe_is_no_traceback() -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    # `./inv --help publish | head -1` once head has gone: the pipe's reading end is closed first,
    # so the first write fails (a reader that is still there would take the whole text).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tasks", "--help", "publish"],
            cwd=REPO,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
