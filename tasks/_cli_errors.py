"""invoke's parser errors as the tool's own one-line ``error:`` messages.

Rules: every message is one line starting ``error:`` (``__main__`` exits 2 with it, nothing run),
naming the option or task as typed and, where one is close (``difflib``), the one meant: an
unknown option (``did you mean --channel?``, among the options of the task it was given to), an
unknown task (``did you mean publish?``), an option without its value, a missing positional.
invoke's ``--dry``/``-R`` and ``-d`` (its ``--debug``) are not core flags of ``./inv``
(``__main__._Program.core_args``): given anyway they are refused here, naming the task's own
``--dry-run``, because invoke's ``--dry`` only echoes shell commands and still runs the task.
A message this module does not know is passed on as invoke wrote it, behind ``error:``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from difflib import get_close_matches

from invoke.exceptions import ParseError
from invoke.parser.context import ParserContext

__all__ = ["REFUSED_CORE_FLAGS", "bad_value_line", "parse_error_line"]

# invoke's core flags that ./inv does not offer: they echo shell commands but still run the task
# (its --debug is kept, long only).
REFUSED_CORE_FLAGS = ("dry", "R")
_UNKNOWN = re.compile(r"^No idea what (?P<token>.+) is!$")
# invoke names the flag by its Argument's repr: "<Argument: critical_below (i)>".
_NO_VALUE = re.compile(r"^Flag <Argument: (?P<name>[^ >]+).*> needed value and was not given one!$")
_TAKES_NONE = re.compile(r"^Flag <Argument: (?P<name>[^ >]+).*> doesn't take any value!$")
_POSITIONAL = re.compile(r"^'(?P<task>[^']+)' did not receive required positional arguments: (?P<names>.+)$")


def _token(pattern: re.Pattern[str], message: str) -> str | None:
    found = pattern.match(message)
    if found is None:
        return None
    # invoke quotes the token with repr(); literal_eval undoes exactly that.
    token = ast.literal_eval(found.group("token"))
    return token if isinstance(token, str) else None


def _flag(name: str) -> str:
    dashed = name.replace("_", "-")
    return f"-{dashed}" if len(dashed) == 1 else f"--{dashed}"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _unknown_option(token: str, context: ParserContext | None, task: str | None) -> str:
    where = f" for {task}" if task else ""
    flags = sorted(flag for flag in (context.flags if context is not None else {}) if flag.startswith("--"))
    meant = _did_you_mean(token.split("=", 1)[0], flags)
    see = f"./inv --help {task}" if task else "./inv --help"
    return f"error: unknown option {token}{where}" + (meant or f" (see {see})")


def _unknown_word(token: str, task: str | None, contexts: dict[str, ParserContext]) -> str:
    meant = _did_you_mean(token, sorted(contexts))
    if meant or task is None:
        return f"error: no task {token!r}" + (meant or " (./inv --list shows them)")
    # Inside a task's options a stray word is most often a value without its option.
    return f"error: no task {token!r}, nor an option of {task}: a value goes after its option (./inv --help {task})"


def _task_named(argv: Sequence[str], contexts: dict[str, ParserContext]) -> str | None:
    return next((word for word in argv if word in contexts), None)


def _dry_refusal(token: str, task: str | None, contexts: dict[str, ParserContext]) -> str:
    head = f"error: {token} is invoke's echo-only mode and would still run the task"
    if task is None:
        return f"{head}; use the task's own --dry-run (./inv TASK --dry-run)"
    if "--dry-run" not in contexts[task].flags:
        return f"{head}; {task} has no dry run"
    return f"{head}; use the task's own --dry-run (./inv {task} --dry-run)"


def parse_error_line(exc: ParseError, argv: Sequence[str], contexts: dict[str, ParserContext]) -> str:
    """The one ``error:`` line for invoke's ``exc``, raised parsing ``argv`` (the words after the
    program's name) against the tasks' parser ``contexts`` (by task name)."""
    message = str(exc)
    in_task = exc.context.name if exc.context is not None and exc.context.name else None
    token = _token(_UNKNOWN, message)
    if token is not None:
        task = in_task or _task_named(argv, contexts)
        if token in {_flag(name) for name in REFUSED_CORE_FLAGS}:
            return _dry_refusal(token, task, contexts)
        if token == "-d" and in_task is None:
            example = f"./inv {task} -d" if task else "./inv TASK -d"
            return f"error: -d is a task's --dry-run: give it after the task's name ({example}); --debug is long only"
        if token.startswith("-"):
            return _unknown_option(token, exc.context, in_task)
        return _unknown_word(token, in_task, contexts)
    if found := _NO_VALUE.match(message):
        return f"error: {_flag(found.group('name'))} needs a value"
    if found := _TAKES_NONE.match(message):
        return f"error: {_flag(found.group('name'))} takes no value"
    if found := _POSITIONAL.match(message):
        names = [_flag(name.strip(" '")) for name in found.group("names").split(",")]
        return (
            f"error: {found.group('task')} needs {' and '.join(names)} (./inv --help {found.group('task')})"
        )
    return f"error: {message}"


_CAST = re.compile(r"^invalid literal for (?P<type>\w+)\(\)(?: with base 10)?: '(?P<value>.*)'$")


def bad_value_line(exc: ValueError, argv: Sequence[str]) -> str:
    """The line for a value invoke could not cast to its option's type (``-T abc``)."""
    match = _CAST.match(str(exc))
    if match is None:
        return f"error: {exc}"
    value, kind = (
        match["value"],
        {"int": "a whole number", "float": "a number"}.get(match["type"], match["type"]),
    )
    flag = next(
        (
            token.split("=", 1)[0] if "=" in token else argv[index - 1]
            for index, token in enumerate(argv)
            if token == value or token.endswith(f"={value}")
        ),
        "an option",
    )
    return f"error: {flag} needs {kind}, not {value!r}"
