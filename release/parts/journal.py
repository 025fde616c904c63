"""The audit log and the workstation lock.

Rules:
- Every state change appends exactly one ``ReleaseLogEntry`` line to ``manifests/release_log.jsonl``
  (when, who, task, channel, version, fingerprint, result). The file is rewritten atomically with
  the new line at the end, so a crash never leaves half a line.
- ``who`` is the git user name, else ``$USER``; never a token or anything from the environment
  that could be secret.
- One state-changing task at a time per workstation: an exclusive, non-blocking ``flock`` on
  ``.release.lock`` under the target root. The second task stops with one line naming the holder.
  The kernel drops the lock when the process dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from release.errors import CHECK_FAILED, ReleaseError
from schemas import ReleaseLogEntry, Target, atomic_write
from schemas.errors import first_error

__all__ = ["LOCK_NAME", "append_entry", "log_path", "read_entries", "who", "workstation_lock"]

LOCK_NAME = ".release.lock"


def log_path(target: Target) -> Path:
    return target.path(target.manifests_dir) / "release_log.jsonl"


def who(cwd: Path | None = None) -> str:
    try:
        name = subprocess.run(
            ["git", "config", "user.name"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = ""
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return name[:80]


def append_entry(target: Target, entry: ReleaseLogEntry) -> None:
    path = log_path(target)
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    atomic_write(path, old + entry.model_dump_json(exclude_none=True).encode() + b"\n")


def read_entries(target: Target) -> list[ReleaseLogEntry]:
    """Every entry, in the file's order; a line that is not one is an error naming its number."""
    path = log_path(target)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"the journal {path} cannot be read ({type(exc).__name__})") from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append(ReleaseLogEntry.model_validate(json.loads(line)))
        except (ValueError, ValidationError) as exc:
            # Only the field's location and the error kind: a hand-edited line may hold anything.
            where = first_error(exc) if isinstance(exc, ValidationError) else "not JSON"
            raise ReleaseError(f"the journal {path}, line {number}: not a journal entry ({where})") from None
    return entries


@contextmanager
def workstation_lock(target: Target, task: str) -> Iterator[None]:
    path = target.path(LOCK_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another task"
            raise ReleaseError(
                f"another release task is running ({holder}); wait for it to finish, then run {task} again",
                code=CHECK_FAILED,
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{task}, pid {os.getpid()}".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
