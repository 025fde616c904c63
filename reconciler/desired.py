"""The desired state: one bundle file in the desired directory, read and validated whole every pass.

Rules:
- The desired state is one unit: ``bundle.json`` holds the stable manifest, the beta manifest and
  the gate, each present or an explicit null. It is validated whole and committed by one atomic
  rename (``write_bundle``), so a reader (a pass, a kill at any instant) sees the old bundle or the
  new one, never new stable with old beta and old gate.
- A bundle that omits a field is invalid: removing a desired file takes an explicit null, so ``{}``
  or a gate-only document can never delete what it forgot to name.
- A null means the resource is unmanaged (runtime files are never deleted for it).
- Reads are bounded, never follow a link and refuse anything but a regular file (a FIFO would hang
  the pass); a bundle that fails validation is an error for every resource and nothing is written.
- The old layout (one file per resource) is still read, file by file as before, until a pass or an
  ``accept`` migrates it (``migrate_legacy``): its valid files become one bundle, committed the
  same way, and the old files go only after the bundle is visible.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from schemas import BetaGate, Bundle, Channel, Manifest, dump_json
from schemas.bounded import field_error, load_json
from schemas.errors import first_error
from schemas.fileio import atomic_stream, read_regular

from .faults import kill_point
from .probeexpect import Expectation

__all__ = [
    "BUNDLE_FIELDS",
    "BUNDLE_FILE",
    "DESIRED_FILES",
    "MAX_BUNDLE_BYTES",
    "Desired",
    "bundle_bytes",
    "desired_file",
    "migrate_legacy",
    "parse_bundle_bytes",
    "read_desired",
    "write_bundle",
]

BUNDLE_FILE = "bundle.json"
BUNDLE_FIELDS = ("stable", "beta", "gate")
# The old layout's names; still the names ``accept`` reports as changed, so the workstation's
# "changed manifest.json, beta_gate.json" keeps its meaning.
DESIRED_FILES = {"stable": "manifest.json", "beta": "manifest_beta.json", "gate": "beta_gate.json"}
MAX_BUNDLE_BYTES = 2 << 20
_MAX_FILE_BYTES = 1 << 20


def desired_file(name: str) -> str:
    """The file an error key names: a field's old-layout file, or the bundle itself."""
    return DESIRED_FILES.get(name, BUNDLE_FILE)


@dataclass(frozen=True)
class Desired:
    stable: Manifest | None = None
    beta: Manifest | None = None
    gate: BetaGate | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def expectation(self) -> Expectation:
        """What the feed endpoints should serve once this desired state is applied."""
        return Expectation(
            self.stable.version if self.stable else None,
            self.beta.version if self.beta else None,
            self.gate.enabled if self.gate else None,
        )

    def bundle(self) -> Bundle:
        return Bundle(stable=self.stable, beta=self.beta, gate=self.gate)

    def blocks(self, name: str) -> bool:
        """Whether resources driven by desired field ``name`` must be left alone (it is invalid)."""
        return name in self.errors or "bundle" in self.errors

    def digest(self) -> str:
        """The bundle digest, or a digest of the raw errors while something is invalid."""
        if self.errors:
            material = json.dumps(self.errors, sort_keys=True).encode()
            return "invalid:" + hashlib.sha256(material).hexdigest()[:16]
        return self.bundle().digest()


def parse_bundle_bytes(data: bytes) -> Bundle:
    """A whole bundle from JSON bytes, or ValueError with one line naming the problem."""
    if not data.strip():
        raise ValueError("empty: expected a desired-state bundle as JSON")
    if len(data) > MAX_BUNDLE_BYTES:
        raise ValueError(f"larger than {MAX_BUNDLE_BYTES >> 20} MiB")
    document = load_json(data)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in BUNDLE_FIELDS if name not in document]
    if missing:
        raise ValueError(
            f"omits {', '.join(missing)}: every bundle names stable, beta and gate "
            "(null removes that desired file)"
        )
    try:
        return Bundle.model_validate(document)
    except ValidationError as exc:
        # The bundle is the operator's (accept's stdin, or the private state directory), never the
        # app user's, so pydantic's own words, which may name an unexpected key, can be shown.
        raise ValueError(first_error(exc)) from None


def bundle_bytes(bundle: Bundle) -> bytes:
    """``bundle.json``'s bytes: every field present (null when unmanaged), stable key order."""
    documents: Mapping[str, BaseModel | None] = {
        "stable": bundle.stable,
        "beta": bundle.beta,
        "gate": bundle.gate,
    }
    return dump_json(
        {
            name: None if model is None else model.model_dump(mode="json", exclude_none=True)
            for name, model in documents.items()
        }
    )


def _read_legacy_file(path: Path, model: type[BaseModel]) -> BaseModel | None:
    data = read_regular(path, max_bytes=_MAX_FILE_BYTES)
    if data is None:
        return None
    try:
        return model.model_validate(load_json(data))
    except ValidationError as exc:
        raise ValueError(field_error(exc)) from None


def _legacy_present(directory: Path) -> list[str]:
    return [name for name in DESIRED_FILES.values() if os.path.lexists(directory / name)]


def _read_legacy(directory: Path) -> Desired:
    values: dict[str, BaseModel | None] = {}
    errors: dict[str, str] = {}
    models: dict[str, type[BaseModel]] = {"stable": Manifest, "beta": Manifest, "gate": BetaGate}
    for name, filename in DESIRED_FILES.items():
        try:
            values[name] = _read_legacy_file(directory / filename, models[name])
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            errors[name] = f"{filename}: {reason}"[:150]
    for name, channel in (("stable", Channel.STABLE), ("beta", Channel.BETA)):
        manifest = values.get(name)
        if isinstance(manifest, Manifest) and manifest.channel is not channel:
            errors[name] = f"{DESIRED_FILES[name]}: channel must be '{channel.value}'"
            values[name] = None
    stable, beta, gate = values.get("stable"), values.get("beta"), values.get("gate")
    return Desired(
        stable=stable if isinstance(stable, Manifest) else None,
        beta=beta if isinstance(beta, Manifest) else None,
        gate=gate if isinstance(gate, BetaGate) else None,
        errors=errors,
    )


def read_desired(directory: Path) -> Desired:
    """The committed bundle; the old layout's files while no bundle was ever committed."""
    try:
        data = read_regular(directory / BUNDLE_FILE, max_bytes=MAX_BUNDLE_BYTES)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Desired(errors={"bundle": f"{BUNDLE_FILE}: {reason}"[:150]})
    if data is None:
        return _read_legacy(directory)
    try:
        bundle = parse_bundle_bytes(data)
    except ValueError as exc:
        return Desired(errors={"bundle": f"{BUNDLE_FILE}: {exc}"[:150]})
    return Desired(stable=bundle.stable, beta=bundle.beta, gate=bundle.gate)


def _changed_fields(old: Desired, new: Bundle) -> list[str]:
    if old.errors:
        return list(DESIRED_FILES.values())
    before = old.bundle()
    return [DESIRED_FILES[name] for name in BUNDLE_FIELDS if getattr(before, name) != getattr(new, name)]


def write_bundle(directory: Path, bundle: Bundle) -> list[str]:
    """Commit ``bundle`` as the desired state in one rename; return the desired files it changed.

    The caller holds the VM lock. Kill points (``accept:*``) sit between the steps.
    """
    directory.mkdir(parents=True, exist_ok=True)
    old = read_desired(directory)
    changed = _changed_fields(old, bundle)
    data = bundle_bytes(bundle)
    path = directory / BUNDLE_FILE
    kill_point("accept:locked")
    try:
        current = read_regular(path, max_bytes=MAX_BUNDLE_BYTES)
    except ValueError:
        current = None
    if current != data:
        with atomic_stream(path) as handle:
            half = len(data) // 2
            handle.write(data[:half])
            handle.flush()
            kill_point("accept:partial")
            handle.write(data[half:])
            kill_point("accept:written")
    kill_point("accept:renamed")
    _remove_legacy(directory)
    kill_point("accept:cleaned")
    return changed


def _remove_legacy(directory: Path) -> list[str]:
    """Drop the old layout's files once a bundle is visible; they are never read again."""
    removed = []
    for name in _legacy_present(directory):
        try:
            os.unlink(directory / name)
        except FileNotFoundError:
            continue
        removed.append(name)
    if removed:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return removed


def migrate_legacy(directory: Path) -> list[str]:
    """Turn an old-layout desired directory into a bundle (caller holds the VM lock).

    Returns the old files dropped. While an old file is invalid nothing migrates: the pass reports
    it per file as it always did, and the valid ones are still enforced.
    """
    if not directory.is_dir() or not _legacy_present(directory):
        return []
    if os.path.lexists(directory / BUNDLE_FILE):
        # A kill between the bundle's rename and this cleanup: the bundle is the desired state.
        return _remove_legacy(directory)
    legacy = _read_legacy(directory)
    if legacy.errors:
        return []
    present = _legacy_present(directory)
    write_bundle(directory, legacy.bundle())
    return present
