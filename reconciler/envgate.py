"""Changing the gate line of ``config.env`` without ever losing a byte someone else is writing.

Rules:
- ``config.env`` is edited in place, never replaced: an editor or ``cat > config.env`` that is
  still writing keeps its file descriptor on the same inode, so a rename would orphan everything it
  writes after our read. Only the bytes from the gate value onwards are rewritten (the tail
  shifts by at most one byte for true/false), then the file is truncated if it shrank.
- No edit while anyone has the file open for writing. On Linux the edit runs under a write lease
  (``F_SETLEASE``, ``F_WRLCK``): the kernel grants it only when no other process has the file open,
  and makes any later ``open`` wait until we release it, so readers never see half an edit and a
  writer that opens meanwhile starts from the edited file. When only readers hold it open, a read
  lease tells us there is no writer and the edit proceeds. Where leases are not available
  (macOS, a file we do not own without CAP_LEASE) the file must not have changed for
  ``SETTLE_S`` seconds.
- Required keys that the last good copy had and the file has lost mean a write is in progress or
  went wrong: the gate is left alone and the error names the keys (never values) and the copy.
- The last good copy (every byte, mode 0600) lives in the state directory, never in the runtime
  tree, and is refreshed after each edit that leaves every required key set.
- A shrinking edit (true after false) is a write and then a truncate: it is noted first in
  ``config.env.edit`` in the state directory, so a kill between the two leaves a file the next
  pass recognises (exactly the noted length and digest plus the old tail) and cuts back.
- A lease break is signalled to the holder; ``F_SETSIG`` makes that SIGURG, which by default is
  ignored, so no handler is needed in any thread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas.envfile import assignments
from schemas.fileio import FileRefused, atomic_write, open_directory, open_regular, read_regular

from .envlines import set_gate

__all__ = [
    "ENV_MAX_BYTES",
    "SETTLE_S",
    "EnvBusy",
    "EnvGuard",
    "GateEdit",
    "edit_gate",
    "interrupted",
    "missing_keys",
    "writer_present",
]

ENV_MAX_BYTES = 256 * 1024
SETTLE_S = 2.0
_SETLEASE = getattr(fcntl, "F_SETLEASE", None)
_SETSIG = getattr(fcntl, "F_SETSIG", None)


class EnvBusy(FileRefused):
    """Someone is writing config.env (or it changed a moment ago); the gate waits."""


@dataclass(frozen=True)
class EnvGuard:
    """What the config adds to a gate edit: the keys config.env must keep, and where its backup goes
    (a value, so the resources table needs no Config and the config no resources' planners)."""

    required_keys: tuple[str, ...] = ()
    backup: Path | None = None


@dataclass(frozen=True)
class GateEdit:
    path: Path
    enabled: bool
    below: Path | None
    required_keys: tuple[str, ...] = ()
    backup: Path | None = None


def _set_keys(data: bytes) -> set[str]:
    return {a.key for a in assignments(data) if a.value.strip()}


def missing_keys(data: bytes, edit: GateEdit) -> list[str]:
    """Required keys set in the last good copy but not in ``data`` (names only)."""
    if edit.backup is None or not edit.required_keys:
        return []
    try:
        good = read_regular(edit.backup, max_bytes=ENV_MAX_BYTES)
    except FileRefused:
        good = None
    if good is None:
        return []
    had, has = _set_keys(good), _set_keys(data)
    return [key for key in edit.required_keys if key in had and key not in has]


def _lease(fd: int, kind: int) -> bool | None:
    """True when granted, False when someone holds a conflicting open, None when leases are unavailable."""
    if _SETLEASE is None:
        return None
    try:
        if _SETSIG is not None:
            fcntl.fcntl(fd, _SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, _SETLEASE, kind)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EBUSY):
            return False
        return None  # EACCES (not our file, no CAP_LEASE), EINVAL (filesystem without leases)
    return True


def _unlease(fd: int) -> None:
    if _SETLEASE is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, _SETLEASE, fcntl.F_UNLCK)


def _settled(st: os.stat_result, path: Path) -> None:
    age = time.time() - max(st.st_mtime, st.st_ctime)
    if age < SETTLE_S:
        raise EnvBusy(errno.EBUSY, f"{path} changed {age:.1f}s ago; the gate waits until it settles")


def _open(edit: GateEdit, flags: int) -> tuple[int, os.stat_result]:
    dir_fd = open_directory(edit.path.parent, below=edit.below)
    try:
        return open_regular(dir_fd, edit.path.name, edit.path, flags)
    finally:
        os.close(dir_fd)


def writer_present(edit: GateEdit) -> bool:
    """Whether another process has config.env open for writing now (False when it cannot tell)."""
    fd, _st = _open(edit, os.O_RDONLY)
    try:
        granted = _lease(fd, fcntl.F_RDLCK)
        if granted:
            _unlease(fd)
        return granted is False
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive(edit: GateEdit) -> Iterator[tuple[int, os.stat_result]]:
    """The file open read-write, with no writer but us for as long as the block runs."""
    path = edit.path
    fd, st = _open(edit, os.O_RDWR)
    try:
        granted = _lease(fd, fcntl.F_WRLCK)
        if granted is False:
            # Someone has it open; fine if they only read (the feed), not if they write. Our own
            # read-write descriptor would count as a writer, so it is closed while asking.
            os.close(fd)
            fd = -1
            if writer_present(edit):
                raise EnvBusy(errno.EBUSY, f"{path} is open for writing by another process; the gate waits")
            fd, st = _open(edit, os.O_RDWR)
        elif granted is None:
            _settled(st, path)
        try:
            yield fd, st
        finally:
            if granted:
                _unlease(fd)
    finally:
        if fd >= 0:
            os.close(fd)


def _read_all(fd: int, path: Path) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while offset <= ENV_MAX_BYTES:
        chunk = os.pread(fd, 1 << 16, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    data = b"".join(chunks)
    if len(data) > ENV_MAX_BYTES:
        raise FileRefused(errno.EFBIG, f"{path} is larger than {ENV_MAX_BYTES} bytes; refused")
    return data


def edit_gate(edit: GateEdit) -> bool:
    """Set the gate in place; True when bytes changed. Raises EnvBusy/FileRefused/ValueError."""
    with _exclusive(edit) as (fd, _st):
        data = _read_all(fd, edit.path)
        if not data.strip():
            raise EnvBusy(errno.EBUSY, f"{edit.path} is empty; the gate waits for its content")
        meant = interrupted(data, edit)
        if meant is not None:
            os.ftruncate(fd, meant)
            os.fsync(fd)
            data = data[:meant]
            _forget(edit)
        lost = missing_keys(data, edit)
        if lost:
            raise ValueError(lost_message(edit, lost))
        new = set_gate(data, edit.enabled)
        if new is not None:
            start = next((i for i, (a, b) in enumerate(zip(data, new, strict=False)) if a != b), len(data))
            shrinks = len(new) < len(data)
            if shrinks:
                _note(edit, len(data), new)
            os.pwrite(fd, new[start:], start)
            if shrinks:
                os.ftruncate(fd, len(new))
            os.fsync(fd)
            if shrinks:
                _forget(edit)
        result = data if new is None else new
    if edit.backup is not None:
        _keep_backup(edit.backup, result)
    return new is not None


def _journal(edit: GateEdit) -> Path | None:
    return edit.backup.with_name("config.env.edit") if edit.backup is not None else None


def _note(edit: GateEdit, size_from: int, new: bytes) -> None:
    """Record a shrinking edit before it starts: a kill between its write and its truncate
    leaves the old file's last bytes after the new content, which the next pass then cuts."""
    journal = _journal(edit)
    if journal is not None:
        digest = hashlib.sha256(new).hexdigest()
        document = {"from": size_from, "to": len(new), "sha256": digest}
        atomic_write(journal, (json.dumps(document) + "\n").encode(), mode=0o600)


def _forget(edit: GateEdit) -> None:
    journal = _journal(edit)
    if journal is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(journal)


def interrupted(data: bytes, edit: GateEdit) -> int | None:
    """The length an interrupted shrinking edit meant ``data`` to have, or None."""
    journal = _journal(edit)
    try:
        raw = read_regular(journal, max_bytes=4096) if journal is not None else None
        document = json.loads(raw) if raw is not None else None
        size_from, size_to, digest = document["from"], document["to"], document["sha256"]  # type: ignore[index]
    except (FileRefused, ValueError, KeyError, TypeError):
        return None
    if not isinstance(size_to, int) or len(data) != size_from or size_to >= len(data):
        return None
    return size_to if hashlib.sha256(data[:size_to]).hexdigest() == digest else None


def lost_message(edit: GateEdit, lost: list[str]) -> str:
    return (
        f"{edit.path.name} lacks {', '.join(lost)}, set in the last good copy at {edit.backup}; "
        "gate not changed (restore the file or the keys)"
    )


def _keep_backup(backup: Path, data: bytes) -> None:
    with contextlib.suppress(FileRefused):
        if read_regular(backup, max_bytes=ENV_MAX_BYTES) == data:
            return
    atomic_write(backup, data, mode=0o600)
