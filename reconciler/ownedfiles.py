"""The files the reconciler owns, by directory and name pattern; sweeping the temp files a kill left.

Rules:
- One list serves the watcher (which names in which directory wake a pass) and the sweep (whose
  temp files may be removed), so the two never disagree. Its runtime part is each resource's
  ``owned`` entry in ``resources.RESOURCES``.
- ``schemas.atomic_write`` writes ``.<name>.<8 random chars>.tmp`` next to its target; a SIGKILL
  between create and rename leaves one behind. Only temp files of names we own are removed.
- In the runtime and desired directories every writer (a pass, ``accept``) holds the VM lock, so a
  sweep under that lock cannot remove a live temp file. The state directory's files (status,
  alert memory) and the inbox's requests are written without it, so there only temp files older
  than a minute go.
- Directories are opened as ``schemas.fileio`` opens them (no links below the runtime root) and
  only regular files are removed, by name within that directory fd.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import time
from pathlib import Path

from schemas.fileio import FileRefused, open_directory

from .config import Config
from .desired import BUNDLE_FILE, DESIRED_FILES
from .resources import owned_runtime_files

__all__ = ["STATE_TEMP_AGE_S", "owned_files", "sweep_temp_files"]

STATE_TEMP_AGE_S = 60.0
_STATE_FILES = ("status.json", "alerts.json", "pending_actions.json")
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def owned_files(config: Config) -> list[tuple[Path, str]]:
    """(directory, name pattern) of every desired and runtime file a pass reads or writes."""
    # The old layout's names too: writing one of them is how an old tree asks for its migration.
    pairs = [(config.desired_dir, name) for name in (BUNDLE_FILE, *DESIRED_FILES.values())]
    return pairs + owned_runtime_files(config.layout)


def _sweep(
    directory: Path, patterns: set[str], min_age_s: float, now: float, below: Path | None = None
) -> list[Path]:
    removed: list[Path] = []
    try:
        # Through a directory fd opened without following links below the runtime root: a
        # directory swapped for a link to /etc must not make root delete anything there.
        dir_fd = open_directory(directory, below=below)
    except (FileNotFoundError, NotADirectoryError, FileRefused):
        return removed
    try:
        for entry in list(os.scandir(dir_fd)):
            match = _TEMP.match(entry.name)
            if not match or not any(fnmatch.fnmatchcase(match.group("name"), p) for p in patterns):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < min_age_s:
                    continue
                os.unlink(entry.name, dir_fd=dir_fd)
            except FileNotFoundError:
                continue
            removed.append(directory / entry.name)
    finally:
        os.close(dir_fd)
    return removed


def sweep_temp_files(config: Config, now: float | None = None) -> list[Path]:
    """Remove leftover temp files of owned names; the caller holds the VM lock."""
    now = time.time() if now is None else now
    by_directory: dict[Path, set[str]] = {}
    for directory, pattern in owned_files(config):
        by_directory.setdefault(directory, set()).add(pattern)
    removed: list[Path] = []
    root = config.layout.root
    for directory, patterns in by_directory.items():
        removed += _sweep(directory, patterns, 0.0, now, root if directory.is_relative_to(root) else None)
    removed += _sweep(config.state_dir, set(_STATE_FILES), STATE_TEMP_AGE_S, now)
    # Requests are written by ``accept --wait`` without the VM lock, so only old temp files go.
    removed += _sweep(config.state_dir / "inbox", {"*.json"}, STATE_TEMP_AGE_S, now)
    return removed
