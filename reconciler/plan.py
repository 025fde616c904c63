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
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from schemas import Manifest, RuntimeLayout, dump_model

from .describe import describe_manifest
from .desired import Desired, RefusedFile, read_regular
from .envfile import gate_value, set_gate
from .yamledit import YamlEditError, read_update_version, set_update_version

__all__ = ["FileWrite", "Plan", "ResourcePlan", "compute_plan", "failure_text", "read_bytes"]

PlanState = Literal["in_sync", "drift", "error", "unmanaged"]


@dataclass(frozen=True)
class FileWrite:
    path: Path
    data: bytes
    mode: int = 0o644


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

    def to_json(self) -> dict[str, Any]:
        return {
            "in_sync": self.in_sync,
            "desired_digest": self.digest,
            "resources": {
                r.name: {
                    "state": r.state,
                    "expected": r.expected,
                    "found": r.found,
                    "files": [str(w.path) for w in r.writes],
                }
                for r in self.resources
            },
        }


# A runtime document is small; a bigger one is refused rather than read into memory.
MAX_RUNTIME_BYTES = 4 << 20


def read_bytes(path: Path) -> bytes | None:
    """A runtime file's bytes (None when missing): bounded, no-follow, never blocking on a FIFO."""
    return read_regular(path, MAX_RUNTIME_BYTES)


def failure_text(exc: BaseException) -> str:
    """What may be said about a failure: the kind, never bytes read from the file."""
    if isinstance(exc, RefusedFile):
        return f"{exc}: {exc.path}"
    if isinstance(exc, OSError):
        return exc.strerror or exc.__class__.__name__
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"unreadable ({exc.__class__.__name__})"


def _manifest_files(name: str, manifest: Manifest, paths: list[Path]) -> ResourcePlan:
    data = dump_model(manifest)
    expected = f"version {manifest.version} ({manifest.fingerprint[:12]})"
    writes, found = [], []
    for path in paths:
        current = read_bytes(path)
        if current != data:
            writes.append(FileWrite(path, data))
            found.append(f"{path.name} {describe_manifest(current, data)}")
    if not writes:
        return ResourcePlan(name, "in_sync", expected, expected)
    return ResourcePlan(name, "drift", expected, "; ".join(found), tuple(writes))


def _stable(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.stable is None:
        return ResourcePlan("stable", "unmanaged", found="no desired manifest.json")
    paths = [layout.versioned_manifest(desired.stable.version), layout.stable_manifest]
    return _manifest_files("stable", desired.stable, paths)


def _beta(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.beta is None:
        return ResourcePlan("beta", "unmanaged", found="no desired manifest_beta.json")
    return _manifest_files("beta", desired.beta, [layout.beta_manifest])


def _legacy(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.stable is None:
        return ResourcePlan("legacy", "unmanaged", found="no desired manifest.json")
    if not layout.legacy_manifest_path.exists():
        return ResourcePlan("legacy", "unmanaged", found="no legacy copy on this VM")
    return _manifest_files("legacy", desired.stable, [layout.legacy_manifest_path])


def _config_version(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.stable is None:
        return ResourcePlan("config_version", "unmanaged", found="no desired manifest.json")
    path = layout.unified_config_path
    expected = f"default_version {desired.stable.version}, default_build {desired.stable.build}"
    data = read_bytes(path)
    if data is None:
        return ResourcePlan("config_version", "error", expected, f"{path.name} missing")
    try:
        new = set_update_version(data, desired.stable.version, desired.stable.build)
        version, build = read_update_version(data)
    except YamlEditError as exc:
        return ResourcePlan("config_version", "error", expected, f"{path.name}: {exc}")
    found = f"default_version {version}, default_build {build}"
    if new is None:
        return ResourcePlan("config_version", "in_sync", expected, found)
    return ResourcePlan("config_version", "drift", expected, found, (FileWrite(path, new),))


def _gate(desired: Desired, layout: RuntimeLayout) -> ResourcePlan:
    if desired.gate is None:
        return ResourcePlan("gate", "unmanaged", found="no desired beta_gate.json")
    path = layout.config_env_path
    want = "true" if desired.gate.enabled else "false"
    expected = f"UPDATE_BETA_ENABLED={want}"
    data = read_bytes(path)
    if data is None or not data.strip():
        # An empty file is most often an in-place edit caught between truncate and write: a file
        # rebuilt from it would hold only the gate line and lose every secret the edit brings back.
        return ResourcePlan(
            "gate", "error", expected, f"{path.name} {'missing' if data is None else 'empty'}"
        )
    new = set_gate(data, desired.gate.enabled)
    current = gate_value(data)
    found = f"UPDATE_BETA_ENABLED={current}" if current else "gate line missing"
    if new is None:
        return ResourcePlan("gate", "in_sync", expected, found)
    return ResourcePlan("gate", "drift", expected, found, (FileWrite(path, new, mode=0o600),))


def compute_plan(desired: Desired, layout: RuntimeLayout) -> Plan:
    resources = []
    for builder, depends_on in (
        (_stable, "stable"),
        (_legacy, "stable"),
        (_beta, "beta"),
        (_config_version, "stable"),
        (_gate, "gate"),
    ):
        if desired.blocks(depends_on):
            name = builder.__name__.lstrip("_")
            found = f"desired {desired.errors.get(depends_on) or desired.errors['bundle']}"
            resources.append(ResourcePlan(name, "error", found=found, from_desired=True))
        else:
            try:
                resources.append(builder(desired, layout))
            except Exception as exc:  # any file, however hostile, is this resource's error only
                name = builder.__name__.lstrip("_")
                resources.append(ResourcePlan(name, "error", found=f"cannot read: {failure_text(exc)}"[:160]))
    return Plan(tuple(resources), desired.digest())
