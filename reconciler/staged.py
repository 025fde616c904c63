"""A bundle staged in parts: what ``accept --staged`` reads when one Run Command cannot carry it.

Rules:
- Azure's Linux Run Command extension refuses a script over 256 KiB of base64 (``maxScriptSize`` in
  Azure/run-command-extension-linux main/cmds.go), so the workstation sends a long bundle as
  several root-run scripts, each writing one part file ``<sha256>.<i>`` (the part and a newline)
  into a staging directory; ``accept`` then takes the parts whole, in order, and only if their
  concatenation has that sha256. A missing, extra-short or altered part is refused with one line
  and nothing is written.
- Nothing here follows a link: the directory and each part are opened with ``O_NOFOLLOW``, a part
  must be a regular file with one link (``fileio.open_regular``), and both must belong to root or
  to this process's user and be writable by nobody else: the staging directory is root's, and the
  reconciler's user only reads it. Reads are bounded by the bundle's own limit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path

from schemas.fileio import FileRefused, open_regular, read_fd

__all__ = ["read_staged"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def _check_owner(path: Path, st: os.stat_result) -> None:
    if st.st_uid not in (0, os.geteuid()):
        raise FileRefused(errno.EPERM, f"{path} belongs to uid {st.st_uid}, not root; refused")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise FileRefused(errno.EPERM, f"{path} is writable by others (mode {st.st_mode & 0o777:o}); refused")


def _open_directory(directory: Path) -> int:
    try:
        fd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise FileRefused(
                errno.EPERM, f"{directory} is not a directory (links are not followed); refused"
            ) from None
        raise
    try:
        _check_owner(directory, os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_staged(directory: Path, sha256: str, parts: int, max_bytes: int) -> bytes:
    """The bundle bytes staged as ``parts`` files in ``directory``, checked against ``sha256``.

    ValueError (one line) for a bad request or a digest mismatch; FileRefused or
    FileNotFoundError for a part that is not safe to read or is missing.
    """
    if not _SHA256.match(sha256):
        raise ValueError("--sha256: expected 64 lowercase hex digits")
    if not 1 <= parts <= 64:
        raise ValueError("--parts: expected 1 to 64")
    dir_fd = _open_directory(directory)
    chunks: list[bytes] = []
    left = max_bytes
    try:
        for index in range(parts):
            name = f"{sha256}.{index}"
            path = directory / name
            fd, st = open_regular(dir_fd, name, path, os.O_RDONLY)
            try:
                _check_owner(path, st)
                data = read_fd(fd, path, left + 1)
            finally:
                os.close(fd)
            if not data.endswith(b"\n"):
                raise ValueError(f"staged part {index + 1} of {parts} is incomplete; nothing written")
            chunks.append(data[:-1])
            left -= len(data) - 1
            if left < 0:
                raise ValueError(f"staged bundle is larger than {max_bytes} bytes; nothing written")
    finally:
        os.close(dir_fd)
    payload = b"".join(chunks)
    if hashlib.sha256(payload).hexdigest() != sha256:
        raise ValueError(f"staged parts do not add up to sha256 {sha256[:12]}…; nothing written")
    return payload
