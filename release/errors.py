"""Expected failures, each one clear line for a person and an exit code for a machine.

Rules: the codes are ``schemas.ExitCode``, shared with the VM side: BAD_INPUT (2) is bad input or
configuration (nothing was changed), CHECK_FAILED (1) a check that failed or drift that was found.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from schemas import ExitCode

__all__ = ["BAD_INPUT", "CHECK_FAILED", "ReleaseError"]

# The two a ReleaseError carries, by their short names (every step raises with one of them).
CHECK_FAILED = ExitCode.CHECK_FAILED
BAD_INPUT = ExitCode.BAD_INPUT


class ReleaseError(Exception):
    """A failure the operator can act on: ``str(error)`` is the one line to print."""

    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code
