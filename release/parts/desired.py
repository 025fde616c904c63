"""The desired state in the repo's ``manifests/`` folder: read, write, bundle.

Rules:
- Reads validate against the shared models; a file that does not validate is one line naming it
  and the field (exit 2), never a traceback and never silently ignored.
- Writes go through ``schemas.write_model`` (atomic, stable key order, final newline).
- ``manifest_<version>.json`` is the history of what stable was: a version is released once, with
  one set of bytes (``refuse_rebuilt_release``).
- The bundle sent to the VM is built only from these files, so what the VM gets is what git has.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from release.errors import ReleaseError
from schemas import BetaGate, Bundle, Manifest, Target, Validation, parse_version, write_model
from schemas.errors import first_error

__all__ = [
    "beta_path",
    "gate_path",
    "manifests_dir",
    "read_beta",
    "read_document",
    "read_gate",
    "read_stable",
    "read_validation",
    "read_versioned",
    "refuse_rebuilt_release",
    "stable_path",
    "to_bundle",
    "validation_path",
    "versioned_path",
    "write",
]

M = TypeVar("M", bound=BaseModel)


def manifests_dir(target: Target) -> Path:
    return target.path(target.manifests_dir)


def stable_path(target: Target) -> Path:
    return manifests_dir(target) / "manifest.json"


def versioned_path(target: Target, version: str) -> Path:
    try:
        return manifests_dir(target) / f"manifest_{parse_version(version)}.json"
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None


def beta_path(target: Target) -> Path:
    return manifests_dir(target) / "manifest_beta.json"


def gate_path(target: Target) -> Path:
    return manifests_dir(target) / "beta_gate.json"


def validation_path(target: Target) -> Path:
    return manifests_dir(target) / "validation_beta.json"


def read_document(path: Path, model: type[M], hint: str = "fix or restore it from git") -> M | None:
    """A workstation JSON document; None when missing, one ReleaseError line (ending in ``hint``)
    when it is not valid JSON or not a valid ``model``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return model.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{path}: not valid JSON (line {exc.lineno}); {hint}") from None
    except ValidationError as exc:
        raise ReleaseError(f"{path}: {first_error(exc)}; {hint}") from None


def read_stable(target: Target) -> Manifest | None:
    return read_document(stable_path(target), Manifest)


def read_versioned(target: Target, version: str) -> Manifest | None:
    return read_document(versioned_path(target, version), Manifest)


def read_beta(target: Target) -> Manifest | None:
    return read_document(beta_path(target), Manifest)


def read_gate(target: Target) -> BetaGate | None:
    return read_document(gate_path(target), BetaGate)


def read_validation(target: Target) -> Validation | None:
    return read_document(validation_path(target), Validation)


def refuse_rebuilt_release(target: Target, manifest: Manifest) -> None:
    """Exit 2 when ``manifest.version`` was released to stable with other bytes.

    Sparkle compares versions only, so clients on that version would never take a rebuild, and
    ``manifest_<version>.json`` is the history rollback restores from: it is never rewritten.
    """
    released = read_versioned(target, manifest.version)
    if released is not None and released.fingerprint != manifest.fingerprint:
        raise ReleaseError(
            f"{manifest.version} was already released to stable with other bytes "
            f"({released.fingerprint[:12]}, now {manifest.fingerprint[:12]}): bump to a newer version"
        )


def write(path: Path, model: BaseModel) -> None:
    write_model(path, model)


def to_bundle(target: Target) -> Bundle:
    try:
        return Bundle(stable=read_stable(target), beta=read_beta(target), gate=read_gate(target))
    except ValidationError as exc:
        raise ReleaseError(f"desired state in {manifests_dir(target)}: {first_error(exc)}") from None
