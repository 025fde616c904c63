"""The plan: for each resource, its actual state compared with the desired state, and the writes
that would make them equal.

Rules:
- Planning only reads; it is what ``diff`` prints and what a pass applies.
- Every resource reduces to whole-file writes of exact bytes, so applying is atomic per file and a
  plan computed twice from the same files is the same plan.
- Order matters for readers: the versioned stable manifest is written before ``manifest.json``
  (which never names a version whose file is missing), the stable pair before the legacy copy and
  the YAML version.
- A resource whose desired file is invalid is an error and gets no writes; so is one whose runtime
  file cannot be read (a link, a FIFO, a directory, too big, too deep): the others still plan.
- In-place edits (YAML, config.env) are computed from the file's current bytes, so a file that
  cannot be such a base (missing, empty, not a mapping) is an error, never rebuilt from nothing.
- Runtime files are read with ``schemas.fileio.read_regular`` below the layout's root: a link, a
  FIFO, a device or a directory at a runtime name, a file over its size cap or a document nested
  too deep is an error for that resource naming the path, never its content.
- ``config.env`` is not rewritten: its write is a ``GateEdit`` done in place by ``envgate`` when
  nobody is writing the file, and a file that lost required keys is an error, not a base.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from schemas import Manifest, RuntimeLayout, atomic_write, dump_model
from schemas.bounded import check_yaml_depth
from schemas.fileio import FileRefused, read_regular

from .describe import describe_manifest
from .desired import Desired
from .envfile import gate_value, set_gate
from .envgate import (
    ENV_MAX_BYTES,
    GateEdit,
    edit_gate,
    interrupted,
    lost_message,
    missing_keys,
    writer_present,
)
from .yamledit import read_update_version, set_update_version

if TYPE_CHECKING:
    from .config import Config

__all__ = [
    "FileWrite",
    "Plan",
    "ResourcePlan",
    "apply_write",
    "compute_plan",
    "failure_text",
    "read_bytes",
    "read_runtime",
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


@dataclass(frozen=True)
class Plan:
    resources: tuple[ResourcePlan, ...]
    digest: str

    @property
    def in_sync(self) -> bool:
        return all(resource.state in ("in_sync", "unmanaged") for resource in self.resources)

    @property
    def has_error(self) -> bool:
        return any(resource.state == "error" for resource in self.resources)

    def by_name(self) -> dict[str, ResourcePlan]:
        return {resource.name: resource for resource in self.resources}


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
    return read_regular(path, max_bytes=max_bytes, below=_root(layout))


def _root(layout: RuntimeLayout) -> Path | None:
    return layout.root if layout.root.is_absolute() else None


def _manifest_files(name: str, manifest: Manifest, paths: list[Path], layout: RuntimeLayout) -> ResourcePlan:
    data = dump_model(manifest)
    expected = f"version {manifest.version} ({manifest.fingerprint[:12]})"
    writes, found = [], []
    for path in paths:
        try:
            current = read_runtime(layout, path)
        except FileRefused as exc:
            return ResourcePlan(name, "error", expected, str(exc))
        if current != data:
            writes.append(FileWrite(path, data, below=_root(layout)))
            found.append(f"{path.name} {describe_manifest(current, data)}")
    if not writes:
        return ResourcePlan(name, "in_sync", expected, expected)
    return ResourcePlan(name, "drift", expected, "; ".join(found), tuple(writes))


def _stable(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.stable is None:
        return ResourcePlan("stable", "unmanaged", found="no desired manifest.json")
    paths = [layout.versioned_manifest(desired.stable.version), layout.stable_manifest]
    return _manifest_files("stable", desired.stable, paths, layout)


def _beta(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.beta is None:
        return ResourcePlan("beta", "unmanaged", found="no desired manifest_beta.json")
    return _manifest_files("beta", desired.beta, [layout.beta_manifest], layout)


def _legacy(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.stable is None:
        return ResourcePlan("legacy", "unmanaged", found="no desired manifest.json")
    path = layout.legacy_manifest_path
    try:
        present = read_runtime(layout, path) is not None
    except FileRefused as exc:
        return ResourcePlan("legacy", "error", found=str(exc))
    if not present:
        return ResourcePlan("legacy", "unmanaged", found="no legacy copy on this VM")
    return _manifest_files("legacy", desired.stable, [path], layout)


def _config_version(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.stable is None:
        return ResourcePlan("config_version", "unmanaged", found="no desired manifest.json")
    path = layout.unified_config_path
    expected = f"default_version {desired.stable.version}, default_build {desired.stable.build}"
    try:
        data = read_runtime(layout, path, YAML_MAX_BYTES)
        if data is None:
            return ResourcePlan("config_version", "error", expected, f"{path.name} missing")
        check_yaml_depth(data)
        new = set_update_version(data, desired.stable.version, desired.stable.build)
        version, build = read_update_version(data)
    except FileRefused as exc:
        return ResourcePlan("config_version", "error", expected, str(exc))
    except ValueError as exc:  # the depth check: nested too deep, or not YAML at all
        return ResourcePlan("config_version", "error", expected, f"{path.name}: {exc}")
    found = f"default_version {version}, default_build {build}"
    if new is None:
        return ResourcePlan("config_version", "in_sync", expected, found)
    return ResourcePlan(
        "config_version", "drift", expected, found, (FileWrite(path, new, below=_root(layout)),)
    )


def _gate(desired: Desired, layout: RuntimeLayout, config: Config | None) -> ResourcePlan:
    if desired.gate is None:
        return ResourcePlan("gate", "unmanaged", found="no desired beta_gate.json")
    path = layout.config_env_path
    want = "true" if desired.gate.enabled else "false"
    expected = f"UPDATE_BETA_ENABLED={want}"
    edit = GateEdit(
        path,
        desired.gate.enabled,
        _root(layout),
        config.required_env_keys if config else (),
        config.env_backup_path if config else None,
    )
    try:
        data = read_runtime(layout, path, ENV_MAX_BYTES)
        busy = data is not None and writer_present(edit)
    except FileRefused as exc:
        return ResourcePlan("gate", "error", expected, str(exc))
    if data is None or not data.strip():
        # An empty file is most often an in-place edit caught between truncate and write: a file
        # rebuilt from it would hold only the gate line and lose every secret the edit brings back.
        return ResourcePlan(
            "gate", "error", expected, f"{path.name} {'missing' if data is None else 'empty'}"
        )
    if busy:
        return ResourcePlan("gate", "error", expected, f"{path.name} is open for writing; the gate waits")
    meant = interrupted(data, edit)
    if meant is not None:
        # A kill cut the last edit between its write and its truncate: finishing it is the heal.
        found = f"{len(data) - meant} stray bytes after an interrupted gate edit"
        write = FileWrite(path, data[:meant], mode=0o600, below=_root(layout), gate=edit)
        return ResourcePlan("gate", "drift", expected, found, (write,))
    lost = missing_keys(data, edit)
    if lost:
        return ResourcePlan("gate", "error", expected, lost_message(edit, lost))
    new = set_gate(data, desired.gate.enabled)
    current = gate_value(data)
    found = f"UPDATE_BETA_ENABLED={current}" if current else "gate line missing"
    if new is None:
        return ResourcePlan("gate", "in_sync", expected, found)
    write = FileWrite(path, new, mode=0o600, below=_root(layout), gate=edit)
    return ResourcePlan("gate", "drift", expected, found, (write,))


def compute_plan(desired: Desired, layout: RuntimeLayout | Config) -> Plan:
    """The plan; given the whole Config, the gate also guards required keys and keeps a backup."""
    config: Config | None = None
    if not isinstance(layout, RuntimeLayout):
        config, layout = layout, layout.layout
    resources = []
    for name, depends_on in (
        ("stable", "stable"),
        ("legacy", "stable"),
        ("beta", "beta"),
        ("config_version", "stable"),
        ("gate", "gate"),
    ):
        if desired.blocks(depends_on):
            found = f"desired {desired.errors.get(depends_on) or desired.errors['bundle']}"
            resources.append(ResourcePlan(name, "error", found=found, from_desired=True))
            continue
        try:
            if name == "gate":
                resources.append(_gate(desired, layout, config))
            else:
                builders = {
                    "stable": _stable,
                    "legacy": _legacy,
                    "beta": _beta,
                    "config_version": _config_version,
                }
                resources.append(builders[name](desired, layout))
        except Exception as exc:  # any file, however hostile, is this resource's error only
            resources.append(ResourcePlan(name, "error", found=f"cannot read: {failure_text(exc)}"[:160]))
    return Plan(tuple(resources), desired.digest())
