"""``./inv`` runs this: invoke's program over our namespace, with the project's exit codes.

Rules: a command line invoke cannot parse (an unknown flag, a missing argument) is bad input:
one ``error:`` line (``tasks._cli_errors``) and exit 2, like every other bad input, and nothing
runs; invoke's ``--dry``/``-R`` are no flags of ours (they echo shell commands but still run the
task, so a "dry" flag would change state: refused naming the task's ``--dry-run``) and ``-d`` is
every task's ``--dry-run``, so invoke's ``--debug`` is long only; ``TASK -h`` is ``--help TASK`` (a
positional version never swallows it); a value invoke cannot cast (``-T abc``) is one ``error:``
line; ``--print-completion-script`` prints the script of ``tasks._completion`` (bound to
``./inv``); everything else is invoke's own behaviour.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from invoke.exceptions import Exit, ParseError
from invoke.parser.argument import Argument
from invoke.parser.context import ParserContext
from invoke.program import Program

from . import ns
from ._cli_errors import REFUSED_CORE_FLAGS, bad_value_line, parse_error_line
from ._completion import BINARY_NAMES, completion_script

__all__ = ["main"]


class _Program(Program):
    def core_args(self) -> list[Argument]:
        kept = []
        for argument in super().core_args():
            if set(argument.names) & set(REFUSED_CORE_FLAGS):
                continue
            if argument.name == "debug":
                argument = Argument(names=("debug",), kind=bool, default=False, help=argument.help)
            kept.append(argument)
        return kept

    def update_config(self, merge: bool = True) -> None:
        # invoke's update_config reads its --dry, which never parses here: always off.
        self.args["dry"] = Argument(names=("dry",), kind=bool, default=False)
        super().update_config(merge)

    def parse_core_args(self) -> None:
        super().parse_core_args()
        shell = self.args["print-completion-script"].value
        if shell:
            # Before invoke prints its own, which is bound to the name python was run as.
            try:
                print(completion_script(shell))
            except ValueError as exc:
                raise Exit(f"error: {exc}", 2) from None
            raise Exit

    def _parse(self, step: Callable[[], None], *, tasks: bool) -> None:
        """Run one of invoke's parsing steps; its ParseError becomes our one line and exit 2. The
        tasks' parser contexts exist once invoke has begun parsing the tasks (``tasks``)."""
        try:
            step()
        except ParseError as exc:
            contexts: dict[str, ParserContext] = self.parser.contexts if tasks else {}
            raise Exit(parse_error_line(exc, self.argv[1:], contexts), 2) from None
        except ValueError as exc:
            # invoke casts a typed option's value as it parses it (``-T abc``: int('abc')).
            raise Exit(bad_value_line(exc, self.argv[1:]), 2) from None

    def parse_core(self, argv: Any) -> None:
        if argv is None:
            argv = sys.argv
        argv = _help_after_task(list(argv), set(ns.task_names))
        self._parse(lambda: super(_Program, self).parse_core(argv), tasks=False)

    def parse_tasks(self) -> None:
        self._parse(super().parse_tasks, tasks=True)

    def parse_cleanup(self) -> None:
        # --help TASK names an unknown task here, after the tasks are parsed.
        self._parse(super().parse_cleanup, tasks=True)


def _help_after_task(argv: list[str], tasks: set[str]) -> list[str]:
    """``TASK -h``/``TASK --help`` is ``--help TASK``: for a task whose first argument is positional
    (rollback's version, bump's), invoke would take the flag as that value."""
    for index, token in enumerate(argv[1:-1], start=1):
        if token in tasks and argv[index + 1] in ("-h", "--help"):
            return [*argv[:index], "--help", token, *argv[index + 2 :]]
    return argv


def main(argv: list[str] | None = None) -> None:
    """Run one command line (``sys.argv`` unless given; its first item is the program's name)."""
    try:
        _Program(
            namespace=ns,
            name="nexy-release",
            binary="./inv",
            binary_names=BINARY_NAMES,
            version=version("nexy-release"),
        ).run(argv)
    except BrokenPipeError:
        # `./inv --help X | head`: the reader left. The signal module's documented recipe ("Note
        # on SIGPIPE"): point stdout at devnull so the exit's flush cannot raise again, exit 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
