"""The VM's environment is ``requirements-vm.lock`` and the VM wheel, and nothing of the workstation's.

Rules:
- Nothing is downloaded (the tests have loopback only), so the environment is not installed from
  PyPI: it is built from this venv's own copies of exactly the distributions the VM lock pins, at the
  pinned versions (every file each one's RECORD lists, linked into a fresh venv without pip), plus
  the VM wheel ``vm.install`` ships (installed with ``pip --no-index --no-deps``). In it every module
  of ``schemas``, ``reconciler`` and ``feed`` imports, both console scripts answer ``--help``, and
  ``release``, ``tasks`` and every workstation-only package cannot even be found.
- The lock's side is checked on paper as well: what the VM side imports (every import statement of
  its source, walked with ``ast``) belongs to a pinned distribution, and the pins are exactly the
  closure of pyproject's base dependencies on Linux (x86_64, aarch64; CPython 3.11-3.13), each at the
  version the workstation lock (the one the tests ran) pins.
"""

from __future__ import annotations

import ast
import importlib.metadata
import io
import json
import subprocess
import sys
import tarfile
import tomllib
import venv
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from release.parts.target import load_target
from release.steps.vm_artifact import PACKAGES, build_artifact
from tasks.lockcheck import LINUX, PYTHONS, VM, WORKSTATION, LockedPackage, differing_pins, parse_lock
from tests.conftest import REPO

PROJECT = {"schemas", "release", "reconciler", "feed", "tasks"}


def _pyproject() -> dict[str, object]:
    document: dict[str, object] = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return document


def _requirements(key: str) -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    listed = project["dependencies"] if key == "base" else project["optional-dependencies"][key]
    return [Requirement(text) for text in listed]


def _pins(lock: str) -> dict[str, LockedPackage]:
    return {package.name: package for package in parse_lock((REPO / lock).read_text(encoding="utf-8"))}


def _imported_top_levels() -> dict[str, str]:
    """{top-level name: a file importing it} for every non-stdlib import outside the project."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in PROJECT | {"__future__"}:
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def _linux_closure(roots: list[Requirement]) -> set[str]:
    """Every distribution ``roots`` bring in on the VM's platforms, read from the installed metadata."""
    environments = [platform.environment(python) for platform in LINUX for python in PYTHONS]
    needed: set[str] = set()
    pending = [(requirement, "") for requirement in roots]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({**environment, "extra": extra}) for environment in environments
        ):
            continue
        name = canonicalize_name(requirement.name)
        extras = sorted(requirement.extras)
        if name in needed and not extras:
            continue
        needed.add(name)
        for text in importlib.metadata.requires(requirement.name) or []:
            for wanted in ["", *extras]:
                pending.append((Requirement(text), wanted))
    return needed


def test_the_vm_lock_pins_what_the_vm_side_imports_and_nothing_of_the_workstation() -> None:
    vm, workstation = _pins(VM.name), _pins(WORKSTATION.name)
    owners = importlib.metadata.packages_distributions()
    imported = _imported_top_levels()
    assert {"pydantic", "uvicorn", "prometheus_client"} <= imported.keys()
    for top, where in imported.items():
        distributions = {canonicalize_name(name) for name in owners.get(top, [])}
        assert distributions & vm.keys(), f"{where} imports {top}, which requirements-vm.lock does not pin"
    # The pins are the base dependencies' closure, no more and no less...
    assert set(vm) == _linux_closure(_requirements("base"))
    # ...at the versions the tests ran (this venv is installed from the workstation lock).
    assert differing_pins(vm.values(), workstation.values()) == []
    for name, package in vm.items():
        assert importlib.metadata.version(name) == package.version, name
    workstation_only = {canonicalize_name(requirement.name) for requirement in _requirements("workstation")}
    assert {"pygithub", "azure-identity", "invoke", "rich", "psutil", "grpcio"} <= workstation_only
    assert workstation_only.isdisjoint(vm), sorted(workstation_only & vm.keys())
    assert workstation_only <= workstation.keys()


# What the VM side must not find: the workstation's own packages and the import names of every
# distribution only the workstation lock pins.
def _absent_on_the_vm() -> set[str]:
    vm, workstation = _pins(VM.name), _pins(WORKSTATION.name)
    owners = importlib.metadata.packages_distributions()
    names = {"release", "tasks"}
    for top, distributions in owners.items():
        owned = {canonicalize_name(name) for name in distributions}
        if owned & workstation.keys() and not owned & vm.keys() and top.isidentifier():
            names.add(top)
    return names


PROBE = """
import importlib, importlib.metadata, importlib.util, json, pkgutil, sys
imported, found, helped = [], [], {}
for package in %(packages)r:
    module = importlib.import_module(package)
    imported.append(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
            imported.append(info.name)
found = [name for name in %(absent)r if importlib.util.find_spec(name) is not None]
for entry in importlib.metadata.entry_points(group="console_scripts"):
    if not entry.name.startswith("nexy-"):
        continue
    sys.argv = [entry.name, "--help"]
    try:
        entry.load()()
    except SystemExit as exc:
        helped[entry.name] = exc.code
print(json.dumps({"imported": imported, "found": found, "helped": helped}))
"""


def test_a_venv_of_only_the_vm_lock_and_the_vm_wheel_runs_the_reconciler_and_the_feed(tmp_path: Path) -> None:
    artifact = build_artifact(REPO, load_target("production", REPO))
    assert artifact.lock_name == VM.name
    with tarfile.open(fileobj=io.BytesIO(artifact.tarball), mode="r:gz") as archive:
        wheel = tmp_path / artifact.wheel_name
        member = archive.extractfile(artifact.wheel_name)
        assert member is not None
        wheel.write_bytes(member.read())
        shipped = archive.extractfile("requirements.lock")
        assert shipped is not None
        assert shipped.read() == (REPO / VM.name).read_bytes()

    env = tmp_path / "vm"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env)
    python = env / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    linked = 0
    for package in parse_lock((REPO / VM.name).read_text(encoding="utf-8")):
        if package.marker is not None and not package.marker.evaluate():
            continue
        distribution = importlib.metadata.distribution(package.name)
        assert distribution.version == package.version, package.name
        for file in distribution.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            link = site / file
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(str(distribution.locate_file(file))).resolve())
            linked += 1
    assert linked > 100
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
         "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        check=True,
    )  # fmt: skip
    # The wheel holds the VM side alone: no workstation package, no dev module.
    assert sorted(path.name for path in site.iterdir() if path.name in PROJECT) == sorted(PACKAGES)
    assert not (site / "schemas" / "reference.py").exists()
    assert not (site / "schemas" / "export.py").exists()

    absent = sorted(_absent_on_the_vm())
    assert {"github", "azure", "invoke", "rich", "psutil", "grpc", "nacl", "detect_secrets"} <= set(absent)
    probe = PROBE % {"packages": PACKAGES, "absent": absent}
    done = subprocess.run(
        [python, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert {"reconciler.cli", "reconciler.daemon", "feed.cli", "feed.app", "feed.protocol.tls"} <= set(
        answer["imported"]
    )
    assert answer["found"] == []
    assert answer["helped"] == {"nexy-reconciler": 0, "nexy-feed": 0}
