"""Reading the runtime files the feed is built from, once per change.

Rules:
- Reading never raises: a missing file is ``data=None``, an unreadable one carries ``error``; the
  decision what that means belongs to :mod:`feed.evaluate`.
- The stable version comes from ``unified_config.yaml`` ``update.default_version`` (design §2
  rule 6), so the versioned manifest to read is known only after the config is parsed.
- :meth:`Inputs.digest` covers every byte read, so an unchanged set of files is not rebuilt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from schemas import RuntimeLayout, parse_version
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


def read_file(path: Path) -> FileRead:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return FileRead(path, None)
    except OSError as exc:
        return FileRead(path, None, f"{path.name}: cannot read ({exc.strerror or exc})")
    if len(data) > MAX_FILE_BYTES:
        return FileRead(path, None, f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
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
    config = read_file(layout.unified_config_path)
    versioned: FileRead | None = None
    if config.data is not None:
        try:
            versioned = read_file(layout.versioned_manifest(parse_update_config(config.data).default_version))
        except ValueError:
            versioned = None
    return Inputs(
        config=config,
        env=read_file(layout.config_env_path),
        stable=read_file(layout.stable_manifest),
        versioned=versioned,
        beta=read_file(layout.beta_manifest),
    )
