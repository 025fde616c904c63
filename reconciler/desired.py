"""The desired state: three files in the desired directory, read and validated every pass.

Rules:
- Each desired file is validated on its own, so a broken beta file does not stop the stable
  resources from being enforced; a resource whose desired file is invalid is left alone.
- A missing file means the resource is unmanaged (runtime files are never deleted for it).
- Files are read whole and parsed with the shared schemas; a truncated file is simply invalid.
- Reads go through ``schemas.fileio.read_regular`` (no links, no FIFOs, at most 1 MiB) and a
  depth check before ``json.loads``; an error names the file and a schema field or byte offset,
  never a value from the file.
- ``write_bundle`` writes only the files whose bytes change and removes the ones a bundle nulls.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from schemas import BetaGate, Bundle, Channel, Manifest, atomic_write, dump_model
from schemas.bounded import field_error, load_json
from schemas.fileio import FileRefused, read_regular

from .expectation import Expectation

__all__ = ["DESIRED_FILES", "Desired", "read_desired", "write_bundle"]

DESIRED_FILES = {"stable": "manifest.json", "beta": "manifest_beta.json", "gate": "beta_gate.json"}
_MAX_BYTES = 1 << 20


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

    def digest(self) -> str:
        """The bundle digest, or a digest of the raw errors while something is invalid."""
        if self.errors:
            material = json.dumps(self.errors, sort_keys=True).encode()
            return "invalid:" + hashlib.sha256(material).hexdigest()[:16]
        return self.bundle().digest()


def _read(path: Path, model: type[BaseModel]) -> BaseModel | None:
    try:
        data = read_regular(path, max_bytes=_MAX_BYTES)
    except FileRefused as exc:
        # The message already names the path; the caller prefixes the file name again.
        raise ValueError(str(exc).removeprefix(f"{path} ")) from None
    if data is None:
        return None
    document = load_json(data)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise ValueError(field_error(exc)) from None


def read_desired(directory: Path) -> Desired:
    values: dict[str, BaseModel | None] = {}
    errors: dict[str, str] = {}
    models: dict[str, type[BaseModel]] = {"stable": Manifest, "beta": Manifest, "gate": BetaGate}
    for name, filename in DESIRED_FILES.items():
        try:
            values[name] = _read(directory / filename, models[name])
        except ValueError as exc:
            errors[name] = f"{filename}: {exc}"[:150]
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


def write_bundle(directory: Path, bundle: Bundle) -> list[str]:
    """Make the desired directory hold ``bundle``; return the file names written or removed."""
    changed: list[str] = []
    documents: dict[str, BaseModel | None] = {
        "stable": bundle.stable,
        "beta": bundle.beta,
        "gate": bundle.gate,
    }
    for name, filename in DESIRED_FILES.items():
        path = directory / filename
        document = documents[name]
        if document is None:
            if path.exists():
                path.unlink()
                _fsync_dir(directory)
                changed.append(filename)
            continue
        data = dump_model(document)
        with contextlib.suppress(FileNotFoundError):
            if path.read_bytes() == data:
                continue
        atomic_write(path, data)
        changed.append(filename)
    return changed


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
