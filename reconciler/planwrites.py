"""One resource's plan and its file writes: the resource's state, what was expected and found, the
whole-file writes that would heal it and how each is applied; and how runtime files are read for it.
``plan`` puts these together into the whole plan of a pass.

Rules:
- Every resource reduces to whole-file writes of exact bytes, so applying is atomic per file and a
  plan computed twice from the same files is the same plan.
- Runtime files are read with ``schemas.fileio.read_regular`` below the layout's root: a link, a
  FIFO, a device or a directory at a runtime name, a file over its size cap or a document nested
  too deep is an error for that resource naming the path, never its content.
- ``config.env`` is not rewritten: its write is a ``GateEdit`` done in place by ``envgate``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from schemas import RuntimeLayout, atomic_write
from schemas.fileio import FileRefused, read_regular

from .envgate import GateEdit, edit_gate

__all__ = [
    "MANIFEST_MAX_BYTES",
    "YAML_MAX_BYTES",
    "FileWrite",
    "PlanState",
    "ResourcePlan",
    "apply_write",
    "failure_text",
    "read_bytes",
    "read_runtime",
    "runtime_root",
]

MANIFEST_MAX_BYTES = 1 << 20
YAML_MAX_BYTES = 512 * 1024

PlanState = Literal["in_sync", "drift", "error", "unmanaged"]


@dataclass(frozen=True)
class FileWrite:
    path: Path
    data: bytes
    mode: int = 0o644
    below: Path | None = None
    """Directories under this one are opened without following links (the runtime root)."""
    gate: GateEdit | None = None
    """Set for config.env: an in-place edit of the gate line instead of a replacement."""


def apply_write(write: FileWrite) -> None:
    """Carry out one planned write: an atomic replace, or the in-place gate edit."""
    if write.gate is not None:
        try:
            edit_gate(write.gate)
        except ValueError as exc:  # required keys lost since planning: not an I/O error to retry
            raise FileRefused(errno.EPERM, str(exc)) from None
        return
    atomic_write(write.path, write.data, mode=write.mode, below=write.below)


@dataclass(frozen=True)
class ResourcePlan:
    name: str
    state: PlanState
    expected: str = ""
    found: str = ""
    writes: tuple[FileWrite, ...] = ()
    from_desired: bool = False

    def detail(self) -> str:
        if self.state == "drift":
            return f"expected {self.expected}; found {self.found}"[:160]
        return (self.found or self.expected)[:160]


def read_bytes(path: Path, max_bytes: int = MANIFEST_MAX_BYTES, below: Path | None = None) -> bytes | None:
    """A runtime file's bytes, None when missing; FileRefused for anything but a regular file."""
    return read_regular(path, max_bytes=max_bytes, below=below)


def failure_text(exc: BaseException) -> str:
    """What may be said about a failure: the kind, never bytes read from the file."""
    if isinstance(exc, FileRefused):
        return str(exc)  # names the path and what was found there, never content
    if isinstance(exc, OSError):
        return exc.strerror or exc.__class__.__name__
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"unreadable ({exc.__class__.__name__})"


def read_runtime(layout: RuntimeLayout, path: Path, max_bytes: int = MANIFEST_MAX_BYTES) -> bytes | None:
    return read_regular(path, max_bytes=max_bytes, below=runtime_root(layout))


def runtime_root(layout: RuntimeLayout) -> Path | None:
    """The root below which no link is followed; a relative root (not yet resolved) guards nothing."""
    return layout.root if layout.root.is_absolute() else None
