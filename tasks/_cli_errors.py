"""invoke's parser errors as the tool's own one-line ``error:`` messages.

Rules: every message is one line starting ``error:`` (``__main__`` exits 2 with it, nothing run).
invoke's ``--dry``/``-R`` and ``-d`` (its ``--debug``) are not core flags of ``./inv``
(``__main__._Program.core_args``): given anyway they are refused here, naming the task's own
``--dry-run``, because invoke's ``--dry`` only echoes shell commands and still runs the task.
A message this module does not know is passed on as invoke wrote it, behind ``error:``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from invoke.exceptions import ParseError
from invoke.parser.context import ParserContext

__all__ = ["REFUSED_CORE_FLAGS", "parse_error_line"]

# invoke's core flags that ./inv does not offer, with why (ours keeps --debug, long only).
REFUSED_CORE_FLAGS = ("dry", "R")
_UNKNOWN = re.compile(r"^No idea what (?P<token>.+) is!$")


def _token(pattern: re.Pattern[str], message: str) -> str | None:
    found = pattern.match(message)
    if found is None:
        return None
    # invoke quotes the token with repr(); literal_eval undoes exactly that.
    token = ast.literal_eval(found.group("token"))
    return token if isinstance(token, str) else None


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
        if token in ("--dry", "-R"):
            return _dry_refusal(token, task, contexts)
        if token == "-d" and in_task is None:
            example = f"./inv {task} -d" if task else "./inv TASK -d"
            return f"error: -d is a task's --dry-run: give it after the task's name ({example}); --debug is long only"
    return f"error: {message}"
