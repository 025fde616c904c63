"""Expected failures, each one clear line for a person and an exit code for a machine.

Rules: exit 2 is bad input or configuration (nothing was changed), exit 1 is a check that failed
or drift that was found. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["BAD_INPUT", "CHECK_FAILED", "ReleaseError"]

CHECK_FAILED = 1
BAD_INPUT = 2


class ReleaseError(Exception):
    """A failure the operator can act on: ``str(error)`` is the one line to print."""

    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code
