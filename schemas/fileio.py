"""The one atomic file writer and the one bounded reader, used everywhere a file is touched.

Rules:
- A reader sees the whole old content or the whole new content, never a mix: the bytes go to a
  temporary file in the same directory, are fsynced, renamed over the target, and the directory
  is fsynced so the rename survives a power cut.
- Everything goes through directory file descriptors and never follows a link at the file's own
  name: the temp file is created with ``O_EXCL|O_NOFOLLOW`` inside the directory fd, its owner and
  mode are set on the open fd (``fchown``/``fchmod``, never by name), and the rename is
  ``renameat`` on that same directory fd. A swapped temp name or a planted link cannot redirect
  a write or hand a file to anyone.
- A name that is not a regular file (a symlink, a FIFO, a device, a directory) is refused with
  ``FileRefused``, whose message names the path and what was found there, never its content. An
  operator who wants a file elsewhere configures that path; links are not followed.
- With ``below=`` (the VM's runtime root), every directory under it is opened with
  ``O_NOFOLLOW`` too, one component at a time, so a directory swapped for a link is refused; a
  missing one is created with its parent's mode and owner. Above ``below`` (and without it) the
  directory path is the operator's and is opened as given.
- Reads are bounded: at most ``max_bytes`` (+1 to detect more) are read, a FIFO is opened
  non-blocking and refused after ``fstat``, a file with several hard links is refused (a link to
  a root-only file must not be read on its owner's behalf).
- JSON documents are written with a stable key order, two-space indent and a final newline, so git
  diffs of desired state stay readable.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel

__all__ = [
    "FileRefused",
    "atomic_stream",
    "atomic_write",
    "describe_kind",
    "dump_json",
    "dump_model",
    "open_directory",
    "open_regular",
    "read_fd",
    "read_regular",
    "write_model",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
DEFAULT_MAX_BYTES = 1 << 20


class FileRefused(OSError):
    """A path the reconciler will not read or write; ``str()`` names the path and why, no content."""

    def __str__(self) -> str:
        return str(self.strerror)


def describe_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _refuse(path: Path, what: str) -> FileRefused:
    hint = " (links are not followed: configure the real path in the layout)" if "link" in what else ""
    return FileRefused(errno.EPERM, f"{path} is {what}; refused{hint}")


def _kind_at(dir_fd: int, name: str) -> str:
    try:
        return describe_kind(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return "not a regular file"


def open_directory(directory: Path, *, below: Path | None = None, create: bool = False) -> int:
    """An fd for ``directory``; under ``below`` each component is opened without following links.

    With ``create``, missing directories are made: under ``below`` each gets its parent's mode and
    owner (set on its fd), elsewhere the process's defaults. Raises FileNotFoundError when missing.
    """
    directory = Path(directory)
    if below is None or not directory.is_relative_to(below):
        if create:
            os.makedirs(directory, exist_ok=True)
        return os.open(directory, _DIR_FLAGS)
    parts = directory.relative_to(below).parts
    if ".." in parts:
        raise _refuse(directory, "a path that climbs out of its root with '..'")
    fd = os.open(below, _DIR_FLAGS)
    try:
        current = Path(below)
        for part in parts:
            current = current / part
            try:
                child = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                child = _make_directory(fd, part)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise _refuse(current, _kind_at(fd, part)) from None
                raise
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _give(fd: int, owner: os.stat_result) -> None:
    """Give the open file to ``owner``'s user and group, when we are allowed to (only root is)."""
    try:
        os.fchown(fd, owner.st_uid, owner.st_gid)
    except OSError as exc:
        # EINVAL: an owner not mapped in this user namespace (the unit's PrivateUsers=yes).
        if exc.errno not in (errno.EPERM, errno.EINVAL):
            raise


def _make_directory(parent_fd: int, name: str) -> int:
    parent = os.fstat(parent_fd)
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    child = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=parent_fd)
    try:
        # The feed (another user) reads these directories: a re-created one must be what its parent is.
        if (parent.st_uid, parent.st_gid) != (os.geteuid(), os.getegid()):
            _give(child, parent)
        os.fchmod(child, stat.S_IMODE(parent.st_mode))
    except BaseException:
        os.close(child)
        raise
    return child


def open_regular(dir_fd: int, name: str, path: Path, flags: int) -> tuple[int, os.stat_result]:
    try:
        fd = os.open(name, flags | _NOFOLLOW | _NONBLOCK | _NOCTTY | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP):
            raise _refuse(path, _kind_at(dir_fd, name)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, describe_kind(st.st_mode))
        if st.st_nlink > 1:
            raise _refuse(path, f"a file with {st.st_nlink} hard links")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, below: Path | None = None
) -> bytes | None:
    """The bytes of a regular file (None when it or its directory is missing).

    Raises FileRefused for anything else at that name, or for more than ``max_bytes`` bytes.
    """
    path = Path(path)
    try:
        dir_fd = open_directory(path.parent, below=below)
    except FileNotFoundError:
        return None
    try:
        try:
            fd, _st = open_regular(dir_fd, path.name, path, os.O_RDONLY)
        except FileNotFoundError:
            return None
    finally:
        os.close(dir_fd)
    try:
        return read_fd(fd, path, max_bytes)
    finally:
        os.close(fd)


def read_fd(fd: int, path: Path, max_bytes: int) -> bytes:
    """Every byte of the open ``fd`` (``path`` names it in errors); FileRefused past ``max_bytes``."""
    chunks: list[bytes] = []
    left = max_bytes + 1
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise FileRefused(errno.EFBIG, f"{path} is larger than {max_bytes} bytes; refused")
    return data


def _existing(dir_fd: int, name: str, path: Path) -> os.stat_result | None:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, describe_kind(st.st_mode))
    return st


def _create_temp(dir_fd: int, name: str) -> tuple[int, str]:
    for _attempt in range(16):
        # Eight characters, the shape the sweep in reconciler.ownedfiles recognises.
        temp = f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | os.O_CLOEXEC
            return os.open(temp, flags, 0o600, dir_fd=dir_fd), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temp name next to {name}")


@contextlib.contextmanager
def atomic_stream(path: Path, *, mode: int = 0o644, below: Path | None = None) -> Iterator[BinaryIO]:
    """Write ``path`` through a handle; it takes the real name only if the block completes.

    For content too large to hold in memory (artifacts): callers stream into the handle, and may
    check what they wrote (size, sha256) and raise to abandon it before the rename.
    """
    path = Path(path)
    dir_fd = open_directory(path.parent, below=below, create=True)
    try:
        st = _existing(dir_fd, path.name, path)
        fd, temp = _create_temp(dir_fd, path.name)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                # A new file in the runtime tree belongs to whoever owns its directory.
                owner = st if st is not None else (os.fstat(dir_fd) if below is not None else None)
                if owner is not None and (owner.st_uid, owner.st_gid) != (os.geteuid(), os.getegid()):
                    # Only root may give a file away; a daemon running as the owner needs nothing here.
                    _give(handle.fileno(), owner)
                os.fchmod(handle.fileno(), stat.S_IMODE(st.st_mode) if st is not None else mode)
                os.fsync(handle.fileno())
            os.replace(temp, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dir_fd)
            if isinstance(exc, OSError) and exc.filename is None and not isinstance(exc, FileRefused):
                # A full disk or a file size limit: the operator needs to know which file it hit.
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            raise
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, below: Path | None = None) -> None:
    """Replace ``path`` with ``data`` atomically, keeping an existing file's mode and owner."""
    with atomic_stream(path, mode=mode, below=below) as handle:
        handle.write(data)


def dump_json(document: Any) -> bytes:
    """Serialise a JSON document the way desired-state files are stored."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def dump_model(model: BaseModel) -> bytes:
    """Serialise a model in field order, without unset optional noise."""
    return dump_json(model.model_dump(mode="json", exclude_none=True))


def write_model(path: Path, model: BaseModel, *, mode: int = 0o644) -> None:
    atomic_write(path, dump_model(model), mode=mode)
