"""The reconciler's resources, as one table: what each one is called, which desired field drives
it, how it is planned, which runtime files it owns, which write group it moves with and which
``actions:`` key names its action.

Rules:
- ``RESOURCES`` is the only place a resource is defined; its name is one of ``schemas.ResourceName``
  (the wire names the workstation reads too), and the table covers every one of them. Config (which ``actions:`` keys exist),
  desired-file handling (which bundle field blocks it when invalid), ownership (``ownedfiles.py``: what
  the watcher wakes on and the sweep may clean), status, the engine's write groups and the order
  of owed actions are all derived from it. Adding a resource is one entry plus its plan function
  (which reads, never writes, and returns its ``ResourcePlan`` under ``resource.name``); a resource
  driven by a new desired field also needs that field in ``schemas.Bundle``.
- Table order is plan order, the order ``diff`` and status list (stable, legacy, beta,
  config_version, gate), and the order owed actions run in.
- Order matters for readers: the versioned stable manifest is written before ``manifest.json``
  (which never names a version whose file is missing), the stable pair before the legacy copy and
  the YAML version. Write groups go in the order each first appears in the table, members in
  table order, so the config version (last of its group) follows the manifests it names.
- A plan function only reads. A resource whose desired file is null is ``unmanaged`` (its runtime
  files are never deleted); one whose desired field is invalid is never planned (``compute_plan``
  reports it as an error from the desired state).
- In-place edits (YAML, config.env) are computed from the file's current bytes, so a file that
  cannot be such a base (missing, empty, not a mapping) is an error, never rebuilt from nothing.
- ``config.env`` is not rewritten: its write is a ``GateEdit`` done in place by ``envgate`` when
  nobody is writing the file, and a file that lost required keys is an error, not a base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from schemas import Manifest, ResourceName, RuntimeLayout, dump_model
from schemas.bounded import check_yaml_depth
from schemas.fileio import FileRefused

from .desired import Desired, desired_file
from .envgate import (
    ENV_MAX_BYTES,
    EnvGuard,
    GateEdit,
    interrupted,
    lost_message,
    missing_keys,
    writer_present,
)
from .envlines import gate_value, set_gate
from .manifestdiff import describe_manifest
from .planwrites import YAML_MAX_BYTES, FileWrite, ResourcePlan, read_runtime, runtime_root
from .yamledit import read_update_version, set_update_version

__all__ = [
    "ACTION_KEYS",
    "RESOURCES",
    "RESOURCE_NAMES",
    "WRITE_GROUPS",
    "PlanFunction",
    "Resource",
    "in_table_order",
    "owned_runtime_files",
    "plan_beta",
    "plan_config_version",
    "plan_gate",
    "plan_legacy",
    "plan_stable",
]

PlanFunction = Callable[["Resource", Desired, RuntimeLayout, EnvGuard | None], ResourcePlan]
OwnedFunction = Callable[[RuntimeLayout], tuple[tuple[Path, str], ...]]


@dataclass(frozen=True)
class Resource:
    name: ResourceName
    """How status, the plan, alerts and ``pending_actions.json`` call it (the shared wire name)."""
    desired_field: str
    """The bundle field that drives it; while that field is invalid the resource is not planned."""
    plan: PlanFunction
    owned: OwnedFunction
    """(directory, name pattern) of the runtime files it reads or writes."""
    write_group: str
    """Resources sharing a group are written together, and rolled back together when one fails."""
    action_key: str
    """The key under the config's ``actions:`` whose command runs after this resource was written."""

    @property
    def desired_file(self) -> str:
        return desired_file(self.desired_field)


def _manifest_files(
    resource: Resource, manifest: Manifest, paths: list[Path], layout: RuntimeLayout
) -> ResourcePlan:
    name = resource.name
    data = dump_model(manifest)
    expected = f"version {manifest.version} ({manifest.fingerprint[:12]})"
    writes, found = [], []
    for path in paths:
        try:
            current = read_runtime(layout, path)
        except FileRefused as exc:
            return ResourcePlan(name, "error", expected, str(exc))
        if current != data:
            writes.append(FileWrite(path, data, below=runtime_root(layout)))
            found.append(f"{path.name} {describe_manifest(current, data)}")
    if not writes:
        return ResourcePlan(name, "in_sync", expected, expected)
    return ResourcePlan(name, "drift", expected, "; ".join(found), tuple(writes))


def _unmanaged(resource: Resource) -> ResourcePlan:
    return ResourcePlan(resource.name, "unmanaged", found=f"no desired {resource.desired_file}")


def plan_stable(
    resource: Resource, desired: Desired, layout: RuntimeLayout, guard: EnvGuard | None
) -> ResourcePlan:
    if desired.stable is None:
        return _unmanaged(resource)
    # The versioned file first: manifest.json never names a version whose file is missing.
    paths = [layout.versioned_manifest(desired.stable.version), layout.stable_manifest]
    return _manifest_files(resource, desired.stable, paths, layout)


def plan_beta(
    resource: Resource, desired: Desired, layout: RuntimeLayout, guard: EnvGuard | None
) -> ResourcePlan:
    if desired.beta is None:
        return _unmanaged(resource)
    return _manifest_files(resource, desired.beta, [layout.beta_manifest], layout)


def plan_legacy(
    resource: Resource, desired: Desired, layout: RuntimeLayout, guard: EnvGuard | None
) -> ResourcePlan:
    if desired.stable is None:
        return _unmanaged(resource)
    path = layout.legacy_manifest_path
    try:
        present = read_runtime(layout, path) is not None
    except FileRefused as exc:
        return ResourcePlan(resource.name, "error", found=str(exc))
    if not present:
        return ResourcePlan(resource.name, "unmanaged", found="no legacy copy on this VM")
    return _manifest_files(resource, desired.stable, [path], layout)


def plan_config_version(
    resource: Resource, desired: Desired, layout: RuntimeLayout, guard: EnvGuard | None
) -> ResourcePlan:
    name = resource.name
    if desired.stable is None:
        return _unmanaged(resource)
    path = layout.unified_config_path
    expected = f"default_version {desired.stable.version}, default_build {desired.stable.build}"
    try:
        data = read_runtime(layout, path, YAML_MAX_BYTES)
        if data is None:
            return ResourcePlan(name, "error", expected, f"{path.name} missing")
        check_yaml_depth(data)
        new = set_update_version(data, desired.stable.version, desired.stable.build)
        version, build = read_update_version(data)
    except FileRefused as exc:
        return ResourcePlan(name, "error", expected, str(exc))
    except ValueError as exc:  # the depth check: nested too deep, or not YAML at all
        return ResourcePlan(name, "error", expected, f"{path.name}: {exc}")
    found = f"default_version {version}, default_build {build}"
    if new is None:
        return ResourcePlan(name, "in_sync", expected, found)
    return ResourcePlan(name, "drift", expected, found, (FileWrite(path, new, below=runtime_root(layout)),))


def plan_gate(
    resource: Resource, desired: Desired, layout: RuntimeLayout, guard: EnvGuard | None
) -> ResourcePlan:
    """The gate line of config.env; given the config's ``EnvGuard``, it also guards required keys and
    keeps a backup."""
    name = resource.name
    if desired.gate is None:
        return _unmanaged(resource)
    path = layout.config_env_path
    want = "true" if desired.gate.enabled else "false"
    expected = f"UPDATE_BETA_ENABLED={want}"
    root = runtime_root(layout)
    edit = GateEdit(
        path,
        desired.gate.enabled,
        root,
        guard.required_keys if guard else (),
        guard.backup if guard else None,
    )
    try:
        data = read_runtime(layout, path, ENV_MAX_BYTES)
        busy = data is not None and writer_present(edit)
    except FileRefused as exc:
        return ResourcePlan(name, "error", expected, str(exc))
    if data is None or not data.strip():
        # An empty file is most often an in-place edit caught between truncate and write: a file
        # rebuilt from it would hold only the gate line and lose every secret the edit brings back.
        return ResourcePlan(name, "error", expected, f"{path.name} {'missing' if data is None else 'empty'}")
    if busy:
        return ResourcePlan(name, "error", expected, f"{path.name} is open for writing; the gate waits")
    meant = interrupted(data, edit)
    if meant is not None:
        # A kill cut the last edit between its write and its truncate: finishing it is the heal.
        found = f"{len(data) - meant} stray bytes after an interrupted gate edit"
        write = FileWrite(path, data[:meant], mode=0o600, below=root, gate=edit)
        return ResourcePlan(name, "drift", expected, found, (write,))
    lost = missing_keys(data, edit)
    if lost:
        return ResourcePlan(name, "error", expected, lost_message(edit, lost))
    new = set_gate(data, desired.gate.enabled)
    current = gate_value(data)
    found = f"UPDATE_BETA_ENABLED={current}" if current else "gate line missing"
    if new is None:
        return ResourcePlan(name, "in_sync", expected, found)
    write = FileWrite(path, new, mode=0o600, below=root, gate=edit)
    return ResourcePlan(name, "drift", expected, found, (write,))


def _own(*paths: Callable[[RuntimeLayout], Path]) -> OwnedFunction:
    return lambda layout: tuple((path(layout).parent, path(layout).name) for path in paths)


def _own_manifests(layout: RuntimeLayout) -> tuple[tuple[Path, str], ...]:
    # A pattern, since the versioned manifest's name changes with every stable version.
    return ((layout.stable_manifest.parent, "manifest*.json"),)


RESOURCES: tuple[Resource, ...] = (
    Resource(
        name=ResourceName.STABLE,
        desired_field="stable",
        plan=plan_stable,
        owned=_own_manifests,
        write_group="stable",
        action_key="stable",
    ),
    Resource(
        name=ResourceName.LEGACY,
        desired_field="stable",
        plan=plan_legacy,
        owned=_own(lambda layout: layout.legacy_manifest_path),
        write_group="stable",
        action_key="legacy",
    ),
    Resource(
        name=ResourceName.BETA,
        desired_field="beta",
        plan=plan_beta,
        owned=_own(lambda layout: layout.beta_manifest),
        write_group="beta",
        action_key="beta",
    ),
    Resource(
        name=ResourceName.CONFIG_VERSION,
        desired_field="stable",
        plan=plan_config_version,
        owned=_own(lambda layout: layout.unified_config_path),
        write_group="stable",  # last of its group: the feed reads this version, then its manifest
        action_key="config_version",
    ),
    Resource(
        name=ResourceName.GATE,
        desired_field="gate",
        plan=plan_gate,
        owned=_own(lambda layout: layout.config_env_path),
        write_group="gate",
        action_key="gate",
    ),
)

RESOURCE_NAMES: tuple[str, ...] = tuple(resource.name for resource in RESOURCES)
ACTION_KEYS: tuple[str, ...] = tuple(resource.action_key for resource in RESOURCES)


def _write_groups(resources: tuple[Resource, ...]) -> tuple[tuple[str, ...], ...]:
    groups: dict[str, list[str]] = {}
    for resource in resources:
        groups.setdefault(resource.write_group, []).append(resource.name)
    return tuple(tuple(names) for names in groups.values())


WRITE_GROUPS: tuple[tuple[str, ...], ...] = _write_groups(RESOURCES)


def in_table_order(names: Iterable[str]) -> list[str]:
    """``names`` that are resources, in table order (owed actions run, and are stored, this way)."""
    wanted = set(names)
    return [name for name in RESOURCE_NAMES if name in wanted]


def owned_runtime_files(layout: RuntimeLayout) -> list[tuple[Path, str]]:
    """(directory, name pattern) of every runtime file some resource reads or writes."""
    return [pair for resource in RESOURCES for pair in resource.owned(layout)]
