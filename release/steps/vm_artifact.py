"""The VM side as one artifact: a wheel of this checkout, the hash-pinned lock, the units and config.

Rules:
- The wheel is built from a copy of the checkout's packages (``pip wheel --no-deps
  --no-build-isolation --no-index``, the build backend the workstation venv already has), never in
  the checkout itself, so no ``build/`` or ``*.egg-info`` is left behind.
- The wheel holds what the VM runs, ``schemas``, ``reconciler`` and ``feed`` (``PACKAGES``), never
  ``release`` or ``tasks``: their dependencies are the workstation's, which the VM does not install.
- The lock is ``requirements-vm.lock`` (the VM's dependencies only, ``./inv lock`` writes it) when
  the checkout has one, else ``requirements.lock`` (an older checkout): ``vm_lock`` is the one place
  that chooses.
- The build id is ``<project version>+<12 hex>``: the sha256 over the wheel's entries (name and
  content, not the zip's timestamps), the lock and the units, so an unchanged checkout always gives
  the same id (the second install is a skip) and any change to what runs on the VM gives a new one.
- The artifact is a gzip'd tar with fixed mtimes and owners; it holds no secret (the units, the
  feed env files and the reconciler config hold none: docs/vm.md#credentials-on-the-vm).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from release.errors import BAD_INPUT, ReleaseError
from schemas import Target

__all__ = ["PACKAGES", "UNITS", "Artifact", "build_artifact", "reconciler_config_text", "vm_lock"]

PACKAGES = ("schemas", "reconciler", "feed")
UNITS = (
    "nexy-reconciler.service",
    "nexy-gate-restart.path",
    "nexy-gate-restart.service",
    "nexy-feed@.service",
)
FEED_ENV = ("feed-production.env", "feed-staging.env")


@dataclass(frozen=True)
class Artifact:
    build: str
    wheel_name: str
    lock_name: str
    tarball: bytes
    sizes: dict[str, int]
    unit_digests: dict[str, str] = field(default_factory=dict)
    config_digest: str = ""


def vm_lock(source: Path) -> Path:
    """The lock the VM installs from: the VM-only one when the checkout has it (smaller, no dev tools)."""
    for name in ("requirements-vm.lock", "requirements.lock"):
        if (source / name).is_file():
            return source / name
    raise ReleaseError(f"{source} has neither requirements-vm.lock nor requirements.lock", BAD_INPUT)


def _project_version(source: Path) -> str:
    try:
        return str(tomllib.loads((source / "pyproject.toml").read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ReleaseError(f"{source}/pyproject.toml: no project.version ({exc})", BAD_INPUT) from None


def _build_wheel(source: Path, out: Path) -> Path:
    tree = out / "src"
    tree.mkdir()
    shutil.copy2(source / "pyproject.toml", tree / "pyproject.toml")
    for package in PACKAGES:
        shutil.copytree(
            source / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    wheels = out / "wheels"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "--disable-pip-version-check",
            "-w",
            str(wheels),
            str(tree),
        ],
        capture_output=True,
        text=True,
        # bdist_wheel stamps zip entries with this date instead of now: the same build, the same bytes.
        env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
        check=False,
    )
    found = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
    if done.returncode != 0 or len(found) != 1:
        lines = [line for line in done.stderr.splitlines() if line.strip() and "WARNING" not in line]
        raise ReleaseError(f"building the wheel failed: {lines[-1] if lines else 'no wheel made'}")
    return found[0]


def _wheel_digest(wheel: Path) -> hashlib._Hash:
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(archive.read(name)).digest())
    return digest


def reconciler_config_text(source: Path, target: Target) -> str:
    """The VM's reconciler config: ``systemd/reconciler.example.yaml`` with the target's probes and
    required env keys (comments kept: it is the file an operator reads on the VM)."""
    yaml = YAML()
    document = yaml.load((source / "systemd" / "reconciler.example.yaml").read_text())
    document["required_env_keys"] = list(target.required_env_keys)
    for name, endpoint in (
        ("production", target.endpoints.production),
        ("staging", target.endpoints.staging),
    ):
        document["probes"][name]["url"] = str(endpoint.url).rstrip("/")
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    archive.addfile(info, io.BytesIO(data))


def build_artifact(source: Path, target: Target) -> Artifact:
    """Build the VM side of ``source`` for ``target`` (about 1 s; nothing in ``source`` changes)."""
    lock = vm_lock(source)
    with tempfile.TemporaryDirectory(prefix="nexy-vm-") as scratch:
        wheel = _build_wheel(source, Path(scratch))
        digest = _wheel_digest(wheel)
        files: dict[str, bytes] = {wheel.name: wheel.read_bytes(), "requirements.lock": lock.read_bytes()}
    units = {name: (source / "systemd" / name).read_bytes() for name in UNITS}
    envs = {name: (source / "systemd" / name).read_bytes() for name in FEED_ENV}
    config = reconciler_config_text(source, target).encode()
    digest.update(files["requirements.lock"])
    for name, data in sorted(units.items()):
        digest.update(name.encode() + b"\0" + data)
    build = f"{_project_version(source)}+{digest.hexdigest()[:12]}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            _add(archive, name, data)
        for name, data in sorted({**units, **envs}.items()):
            _add(archive, f"systemd/{name}", data)
        _add(archive, "reconciler.yaml", config)
        _add(archive, "BUILD", (build + "\n").encode())
    # mtime 0 in the gzip header too, so the same build is the same bytes.
    tarball = gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)
    return Artifact(
        build=build,
        wheel_name=wheel.name,
        lock_name=lock.name,
        tarball=tarball,
        sizes={
            "wheel": len(files[wheel.name]),
            "lock": len(files["requirements.lock"]),
            "artifact": len(tarball),
        },
        unit_digests={name: hashlib.sha256(data).hexdigest() for name, data in units.items()},
        config_digest=hashlib.sha256(config).hexdigest(),
    )
