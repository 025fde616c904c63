"""The one atomic file writer, used everywhere a file is written.

Rules:
- A reader sees the whole old content or the whole new content, never a mix: the bytes go to a
  temporary file in the same directory, are fsynced, renamed over the target, and the directory
  is fsynced so the rename survives a power cut.
- An existing file keeps its mode and (when we are allowed to) its owner; a new file gets ``mode``.
- A symlink is followed: its target is replaced atomically and the link itself stays.
- JSON documents are written with a stable key order, two-space indent and a final newline, so git
  diffs of desired state stay readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel

__all__ = ["atomic_stream", "atomic_write", "dump_json", "dump_model", "write_json", "write_model"]


@contextlib.contextmanager
def atomic_stream(path: Path, *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Write ``path`` through a handle; it takes the real name only if the block completes.

    For content too large to hold in memory (artifacts): callers stream into the handle, and may
    check what they wrote (size, sha256) and raise to abandon it before the rename.
    """
    path = Path(path)
    if path.is_symlink():
        # An operator's symlink (config.env kept elsewhere) stays a symlink: replace its target.
        path = path.resolve()
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    try:
        st: os.stat_result | None = path.stat()
    except FileNotFoundError:
        st = None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, (st.st_mode & 0o7777) if st else mode)
        if st is not None:
            # Only root may give a file away; a daemon running as the owner needs nothing here.
            with contextlib.suppress(PermissionError):
                os.chown(tmp_name, st.st_uid, st.st_gid)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically, keeping an existing file's mode and owner."""
    with atomic_stream(path, mode=mode) as handle:
        handle.write(data)


def dump_json(document: Any) -> bytes:
    """Serialise a JSON document the way desired-state files are stored."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def dump_model(model: BaseModel) -> bytes:
    """Serialise a model in field order, without unset optional noise."""
    return dump_json(model.model_dump(mode="json", exclude_none=True))


def write_json(path: Path, document: Any, *, mode: int = 0o644) -> None:
    atomic_write(path, dump_json(document), mode=mode)


def write_model(path: Path, model: BaseModel, *, mode: int = 0o644) -> None:
    atomic_write(path, dump_model(model), mode=mode)
