"""The exit statuses every command of the three sides ends with, one name per meaning.

Rules: 0 done (in sync), 1 a check failed or drift remains (the operator looks at the world), 2 bad
input or configuration (nothing was changed), 3 the feed could not start listening (uvicorn's own
startup-failure status, kept so systemd and scripts read one number), 130 interrupted by Ctrl-C (the
shell's 128 + SIGINT). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode"]


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    STARTUP_FAILED = 3
    INTERRUPTED = 130
