"""Make the two locks and prove that each installs from wheels on every platform it serves.

Rules:
- Two locks, both hash-pinned: ``requirements.lock`` (the workstation: every dependency, the
  ``workstation`` and ``test`` extras and the build backend; ``./inv``'s venv) and
  ``requirements-vm.lock`` (the VM: the base dependencies alone, what ``schemas``, ``reconciler``
  and ``feed`` import). The VM lock is compiled with the workstation lock as its constraints, so
  the VM runs the very versions the tests ran; the check says so too.
- The platforms are the workstation's (macOS 13 or newer, arm64 and x86_64) and the VM's and CI's
  (Linux, glibc 2.28 or newer: manylinux_2_28, x86_64 and aarch64), each for CPython 3.11, 3.12 and
  3.13; the VM lock is checked for Linux only. A source distribution never counts: a Mac must not
  need a Rust or C toolchain.
- uv, while resolving, never pins for one of the four platforms a release without a wheel there
  (``[tool.uv] required-environments`` in pyproject.toml: it forks to an older release for that
  platform alone). Its markers cannot state the macOS and glibc floors, each CPython, nor that the
  wheel is one whose hash the lock pins: the check here proves those.
- A pinned package passes on a platform and Python when its environment markers leave it out there,
  or when one of its wheels whose sha256 the lock pins has tags that interpreter accepts (tags
  computed by ``packaging.tags``, as pip computes them; a ``py3-none-any`` wheel fits everywhere).
- Nothing is downloaded but the index's file list per package (PEP 691 JSON, the listing pip and uv
  read themselves): one request per package, a few at a time. No distribution is ever fetched.
- The result is a table per platform × Python, then one line per gap naming the package, the
  platform and what to do (pin it back in ``requirements-pins.in``).
- ``./inv lock`` runs this file as a script, never through the tasks package: when pyproject.toml
  names a dependency the current lock lacks, the tasks cannot be imported, and re-locking must still
  work. Re-locking compiles with uv (from a throwaway directory), keeping the current pins where it
  can (none when a merge left a lock unreadable), writes both locks atomically once both compiled,
  then checks them through ``./inv lock --check``, so the check runs in a venv installed from the
  very lock it checks.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name, parse_wheel_filename

__all__ = [
    "LINUX",
    "LOCKS",
    "PLATFORMS",
    "PYTHONS",
    "VM",
    "WORKSTATION",
    "Gap",
    "Lock",
    "LockedPackage",
    "Platform",
    "check_lock",
    "compile_lock",
    "differing_pins",
    "fetch_index_files",
    "main",
    "parse_lock",
    "run_check",
]

ROOT = Path(__file__).resolve().parent.parent
PINS = "requirements-pins.in"

PYTHONS = ((3, 11), (3, 12), (3, 13))
# The oldest systems we promise: macOS 13 (the app's own floor) and glibc 2.28 (RHEL 8, Debian 10;
# the Azure VM's Ubuntu 22.04 has 2.35). A wheel needing anything newer would not install there.
MACOS_FLOOR = (13, 0)
GLIBC_FLOOR = 28
# PEP 691: the JSON form of the simple index, https://peps.python.org/pep-0691/
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
DEFAULT_INDEX = "https://pypi.org/simple"


@dataclass(frozen=True)
class Platform:
    label: str
    sys_platform: str
    platform_system: str
    machine: str
    tags: tuple[str, ...]

    def environment(self, python: tuple[int, int]) -> dict[str, str]:
        """PEP 508 marker variables of CPython ``python`` on this platform."""
        version = f"{python[0]}.{python[1]}"
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{version}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": self.platform_system,
            "platform_version": "",
            "python_full_version": f"{version}.0",
            "python_version": version,
            "sys_platform": self.sys_platform,
            "extra": "",
        }

    def supported(self, python: tuple[int, int]) -> frozenset[Tag]:
        """Every wheel tag CPython ``python`` installs here, the way pip enumerates them."""
        interpreter = f"cp{python[0]}{python[1]}"
        tags = set(cpython_tags(python, abis=[interpreter], platforms=self.tags))
        tags.update(compatible_tags(python, interpreter=interpreter, platforms=self.tags))
        return frozenset(tags)


def _manylinux(arch: str) -> tuple[str, ...]:
    # manylinux_2_X for every glibc up to the floor, plus the legacy aliases (PEP 600, PEP 599).
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_FLOOR, 4, -1)]
    aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags += [f"{alias}_{arch}" for minor, alias in aliases.items() if minor <= GLIBC_FLOOR]
    return tuple(tags)


PLATFORMS = (
    Platform("macOS arm64", "darwin", "Darwin", "arm64", tuple(mac_platforms(MACOS_FLOOR, "arm64"))),
    Platform("macOS x86_64", "darwin", "Darwin", "x86_64", tuple(mac_platforms(MACOS_FLOOR, "x86_64"))),
    Platform("Linux x86_64", "linux", "Linux", "x86_64", _manylinux("x86_64")),
    Platform("Linux aarch64", "linux", "Linux", "aarch64", _manylinux("aarch64")),
)
LINUX = tuple(platform for platform in PLATFORMS if platform.sys_platform == "linux")


@dataclass(frozen=True)
class Lock:
    """One lock file: what it is compiled from and where it must install."""

    name: str
    extras: tuple[str, ...]
    inputs: tuple[str, ...]
    platforms: tuple[Platform, ...]
    covers: str

    def header(self) -> bytes:
        return (
            "# Generated by `./inv lock` (tasks/lockcheck.py: uv pip compile --universal, wheels only); "
            "do not edit.\n"
            f"# `./inv lock --check` proves a hashed wheel for {self.covers}.\n"
        ).encode()


WORKSTATION = Lock(
    "requirements.lock",
    ("workstation", "test"),
    ("pyproject.toml", "requirements-build.in"),
    PLATFORMS,
    "macOS arm64/x86_64 and Linux x86_64/aarch64, CPython 3.11-3.13",
)
VM = Lock("requirements-vm.lock", (), ("pyproject.toml",), LINUX, "Linux x86_64/aarch64, CPython 3.11-3.13")
LOCKS = (WORKSTATION, VM)


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    marker: Marker | None
    hashes: frozenset[str]


@dataclass(frozen=True)
class Gap:
    package: str
    version: str
    platform: str
    python: str

    def line(self) -> str:
        return (
            f"{self.package} {self.version}: no hashed wheel for {self.platform} CPython {self.python}; "
            f"pin an older {self.package} in requirements-pins.in and run ./inv lock"
        )


@dataclass
class Report:
    rows: list[tuple[str, str, int, int]] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def parse_lock(text: str) -> list[LockedPackage]:
    """The pinned requirements of a hash-pinned requirements file (``uv pip compile`` output)."""
    packages: list[LockedPackage] = []
    logical = re.sub(r"\\\n", " ", text)
    for raw in logical.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        hashes = frozenset(_HASH.findall(line))
        requirement = Requirement(_HASH.sub("", line).strip())
        pins = [spec for spec in requirement.specifier if spec.operator == "=="]
        if len(pins) != 1 or not hashes:
            raise ValueError(f"{requirement.name} is not pinned with == and hashes")
        packages.append(
            LockedPackage(canonicalize_name(requirement.name), pins[0].version, requirement.marker, hashes)
        )
    return packages


def fetch_index_files(
    names: Iterable[str], get: Callable[[str], Mapping[str, object]], index: str = DEFAULT_INDEX
) -> dict[str, dict[str, str]]:
    """{package: {sha256: filename}} from the index's JSON listing, fetched a few at a time."""

    def one(name: str) -> tuple[str, dict[str, str]]:
        listed = get(f"{index.rstrip('/')}/{name}/").get("files")
        files: dict[str, str] = {}
        for entry in listed if isinstance(listed, list) else []:
            digest = entry.get("hashes", {}).get("sha256") if isinstance(entry, dict) else None
            if digest:
                files[str(digest)] = str(entry["filename"])
        return name, files

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(pool.map(one, sorted(set(names))))


def check_lock(
    packages: list[LockedPackage],
    files: Mapping[str, Mapping[str, str]],
    platforms: Iterable[Platform] = PLATFORMS,
    pythons: Iterable[tuple[int, int]] = PYTHONS,
) -> Report:
    """Which pinned package lacks a hashed wheel for which platform × Python."""
    report = Report()
    pythons = tuple(pythons)
    for platform in platforms:
        for python in pythons:
            supported = platform.supported(python)
            environment = platform.environment(python)
            installed = skipped = 0
            for package in packages:
                if package.marker is not None and not package.marker.evaluate(environment):
                    skipped += 1
                    continue
                installed += 1
                listing = files.get(package.name, {})
                wheels = [listing[h] for h in package.hashes if h in listing and listing[h].endswith(".whl")]
                if not any(_fits(filename, supported) for filename in wheels):
                    report.gaps.append(
                        Gap(package.name, package.version, platform.label, f"{python[0]}.{python[1]}")
                    )
            report.rows.append((platform.label, f"{python[0]}.{python[1]}", installed, skipped))
    return report


def _fits(filename: str, supported: frozenset[Tag]) -> bool:
    try:
        _name, _version, _build, tags = parse_wheel_filename(filename)
    except ValueError:
        return False
    return not tags.isdisjoint(supported)


def compile_lock(root: Path = ROOT) -> int:
    """Re-pin both locks for every platform at once (the VM's within the workstation's); uv's exit status."""
    with tempfile.TemporaryDirectory() as tools:
        # uv lives in a throwaway directory so the project's venv stays exactly what the lock says.
        pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        if subprocess.call([*pip, "--target", tools, "uv"], cwd=root) != 0:
            return 1
        drafts: dict[str, Path] = {}
        for lock in LOCKS:
            draft = Path(tools) / lock.name
            # uv keeps the versions of the file it writes over where it can (small diffs); a lock a
            # merge left unreadable is not a preference, so then the resolution starts afresh.
            try:
                parse_lock((root / lock.name).read_text(encoding="utf-8"))
                shutil.copyfile(root / lock.name, draft)
            except (OSError, ValueError) as exc:
                print(f"lock: not keeping the current pins of {lock.name} ({exc})", flush=True)
            # --universal writes one file with environment markers for every OS, machine and Python
            # from 3.11 up; --only-binary never picks a release without wheels, and the pins file
            # holds back a package whose newest release dropped one of our platforms. The VM lock is
            # held to the workstation's new pins: the VM runs what the tests ran.
            constraints = ["-c", PINS, *(["-c", str(drafts[WORKSTATION.name])] if lock is VM else [])]
            command = [sys.executable, "-m", "uv", "pip", "compile", *lock.inputs]
            command += [arg for extra in lock.extras for arg in ("--extra", extra)]
            command += ["--universal", "--python-version", "3.11", "--only-binary", ":all:"]
            command += ["--generate-hashes", "--no-header", *constraints, "-o", str(draft), "-q"]
            shown = " ".join(command[2:]).replace(tools + os.sep, "")
            print("lock: " + shown, flush=True)
            status = subprocess.call(command, cwd=root, env={**os.environ, "PYTHONPATH": tools})
            if status != 0:
                return status
            drafts[lock.name] = draft
        from schemas import atomic_write

        for lock in LOCKS:
            # uv's "# via -c ..." names the constraint as given: the draft's throwaway path.
            body = drafts[lock.name].read_text(encoding="utf-8")
            body = body.replace(str(drafts[WORKSTATION.name]), WORKSTATION.name)
            atomic_write(root / lock.name, lock.header() + body.encode())
        return 0


def differing_pins(vm: Iterable[LockedPackage], workstation: Iterable[LockedPackage]) -> list[str]:
    """One line per VM pin that the workstation lock lacks or pins at another version."""
    tested = {package.name: package.version for package in workstation}
    return [
        f"{VM.name}: {package.name}=={package.version}, but {WORKSTATION.name} "
        + (f"pins {tested[package.name]}" if package.name in tested else "lacks it")
        + "; run ./inv lock"
        for package in vm
        if tested.get(package.name) != package.version
    ]


def run_check(root: Path = ROOT) -> int:
    """Print each lock's table and gaps; 0 when every lock installs from wheels where it must."""
    import httpx

    from release.outside.probes import trust_context

    locked: dict[str, list[LockedPackage]] = {}
    for lock in LOCKS:
        try:
            locked[lock.name] = parse_lock((root / lock.name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"lock --check: {lock.name}: {exc}", file=sys.stderr)
            return 2
    with httpx.Client(verify=trust_context(), timeout=60.0, headers={"Accept": SIMPLE_JSON}) as http:

        def get(url: str) -> Mapping[str, object]:
            response = http.get(url)
            response.raise_for_status()
            document: Mapping[str, object] = response.json()
            return document

        try:
            names = {package.name for packages in locked.values() for package in packages}
            files = fetch_index_files(names, get)
        except httpx.HTTPError as exc:
            print(f"lock --check: cannot read the package index: {exc}", file=sys.stderr)
            return 1
    failed = False
    for lock in LOCKS:
        packages = locked[lock.name]
        report = check_lock(packages, files, lock.platforms)
        for platform, python, installed, skipped in report.rows:
            missing = sum(1 for gap in report.gaps if (gap.platform, gap.python) == (platform, python))
            verdict = "ok" if not missing else f"{missing} without a wheel"
            print(
                f"{platform:<14} CPython {python:<5} {installed:>3} packages ({skipped} left out by markers): {verdict}"
            )
        for gap in report.gaps:
            print(gap.line())
        if report.gaps:
            print(f"{lock.name} does not install from wheels on {lock.covers}", file=sys.stderr)
            failed = True
            continue
        print(f"{lock.name}: {len(packages)} pins, each with a hashed wheel for {lock.covers}")
    differing = differing_pins(locked[VM.name], locked[WORKSTATION.name])
    for line in differing:
        print(line)
    return 1 if failed or differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./inv lock", description=f"Re-pin {WORKSTATION.name} and {VM.name}, then check them."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"only prove wheels exist ({WORKSTATION.name}: {WORKSTATION.covers}; {VM.name}: {VM.covers})",
    )
    args = parser.parse_args(argv)
    if args.check:
        return run_check()
    status = compile_lock()
    if status != 0:
        return status
    # Through ./inv, so the venv is reinstalled from the new lock before the check imports anything.
    return subprocess.call([sys.executable, str(ROOT / "inv"), "lock", "--check"], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
