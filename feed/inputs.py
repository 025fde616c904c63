"""Reading the runtime files the feed is built from, once per change.

Rules:
- Reading never raises: a missing file is ``data=None``, an unreadable one carries ``error``; the
  decision what that means belongs to :mod:`feed.evaluate`.
- Files are read as the reconciler reads them, through :func:`schemas.fileio.read_regular`: never
  through a link at the file's own name (nor, below an absolute layout root, at any directory
  under it), never a FIFO, device or hard-linked file, at most :data:`MAX_FILE_BYTES`. A refusal
  is the file's one-line ``error`` (``<name>: cannot read (<what was refused>)``), naming paths
  relative to the file's directory or the root, never the VM's absolute paths (the reason is
  served on ``/updates/health``).
- The stable version comes from ``unified_config.yaml`` ``update.default_version`` (docs/rules.md#r6), so the versioned manifest to read is known only after the config is parsed.
- :meth:`Inputs.digest` covers every byte read, so an unchanged set of files is not rebuilt.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from schemas import RuntimeLayout, parse_version
from schemas.fileio import FileRefused, read_regular
from schemas.vmconfig import read_update_keys

__all__ = ["FileRead", "Inputs", "UpdateConfig", "parse_update_config", "read_file", "read_inputs"]

MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class FileRead:
    path: Path
    data: bytes | None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """The ``update:`` block of ``unified_config.yaml`` as far as the feed uses it."""

    default_version: str
    default_build: str | None
    """None when missing: the feed says so rather than assume the version (``schemas.vmconfig``)."""
    title: str | None
    minimum_system_version: str | None


def _refusal(path: Path, exc: FileRefused, below: Path | None) -> str:
    if exc.errno == errno.EFBIG:
        return f"{path.name}: larger than {MAX_FILE_BYTES} bytes"
    text = str(exc)
    # FileRefused names the refused path (the file, or a directory under the root) absolutely.
    for base in (path.parent, below):
        if base is not None and text.startswith(f"{base}{os.sep}"):
            return f"{path.name}: cannot read ({text[len(str(base)) + 1 :]})"
    return f"{path.name}: cannot read (refused)"


def read_file(path: Path, *, below: Path | None = None) -> FileRead:
    try:
        data = read_regular(path, max_bytes=MAX_FILE_BYTES, below=below)
    except FileRefused as exc:
        return FileRead(path, None, _refusal(path, exc, below))
    except OSError as exc:
        return FileRead(path, None, f"{path.name}: cannot read ({exc.strerror or exc})")
    return FileRead(path, data)


def parse_update_config(data: bytes) -> UpdateConfig:
    """Parse the owned keys; raise ValueError with a one-line reason when they are unusable."""
    keys = read_update_keys(data)
    if not keys.has_block:
        raise ValueError("has no 'update:' mapping")
    if keys.version is None:
        raise ValueError("update.default_version is missing")
    parse_version(keys.version)
    if keys.build is not None:
        parse_version(keys.build)
    return UpdateConfig(
        default_version=keys.version,
        default_build=keys.build,
        title=keys.title,
        minimum_system_version=keys.minimum_system_version,
    )


@dataclass(frozen=True, slots=True)
class Inputs:
    config: FileRead
    env: FileRead
    stable: FileRead
    versioned: FileRead | None
    beta: FileRead

    def files(self) -> tuple[FileRead, ...]:
        reads = (self.config, self.env, self.stable, self.versioned, self.beta)
        return tuple(read for read in reads if read is not None)

    def digest(self) -> str:
        hasher = hashlib.sha256()
        for read in self.files():
            hasher.update(str(read.path).encode() + b"\0")
            hasher.update(repr((read.data is None, read.error)).encode() + b"\0")
            hasher.update(hashlib.sha256(read.data or b"").digest())
        return hasher.hexdigest()


def read_inputs(layout: RuntimeLayout) -> Inputs:
    # As the reconciler reads them (reconciler/planwrites.py::read_runtime): directories below an absolute root are
    # opened without following links; a relative root is the operator's and opened as given.
    below = layout.root if layout.root.is_absolute() else None
    config = read_file(layout.unified_config_path, below=below)
    versioned: FileRead | None = None
    if config.data is not None:
        try:
            version = parse_update_config(config.data).default_version
            versioned = read_file(layout.versioned_manifest(version), below=below)
        except ValueError:
            versioned = None
    return Inputs(
        config=config,
        env=read_file(layout.config_env_path, below=below),
        stable=read_file(layout.stable_manifest, below=below),
        versioned=versioned,
        beta=read_file(layout.beta_manifest, below=below),
    )
