"""Shared fixtures: a real sandbox (reconciler + two TLS feeds + fixed-tag store) on free loopback ports.

``sandbox`` (module-scoped) copies ``targets/sandbox.yaml`` into a tmp dir with ``root: <tmp>`` and
free ports (the production and staging endpoints, the store's download URL, the stable fixed URLs and
both gRPC endpoints are all rewritten consistently), creates empty ``manifests/`` and
``release_inbox/{beta,stable}/`` there like a checkout has, runs ``release.sandbox.up`` and yields a
``Sandbox``:

- ``.target``: the loaded ``schemas.Target``; ``.target_file``: its YAML ``Path``; ``.root``: the tmp
  root (the target's root); ``.dir``: the sandbox directory (``<root>/.sandbox``).
- ``.remote_calls()``: the parsed lines of ``<dir>/remote_calls.jsonl`` (``{"at", "method"}``, one per
  Remote call), ``[]`` before the first call.
- ``.inv(*args, check=True, timeout=240)``: runs ``./inv *args --target <file>`` through
  ``run_inv`` (so pass one task name and its options; ``--target`` is appended) and returns the
  ``subprocess.CompletedProcess`` (text, captured); with ``check`` a non-zero exit fails the test
  showing stdout and stderr.

``run_inv(*args, env=None, timeout=240)`` is how every test runs a task: the program ``./inv`` execs
(``python -m tasks`` with this venv's python, in the repo root, the venv's ``bin`` first on PATH), on
Linux forked from ``tests.forkserver``, which has made that program's imports once. The sandbox
target's ``remote.python`` is ``tests/forklaunch.py`` there, so the remote's reconciler calls are
forked from the same server.

Teardown runs ``down`` and asserts that none of the sandbox's processes is left. ``sandbox_target``
(function-scoped) gives the same target files without starting anything.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from release.outside.sandbox_layout import sandbox_paths
from release.parts.target import load_target
from release.sandbox import down, up
from release.sandbox.procs import is_alive, read_pid_file
from schemas import Target
from tests import forkserver
from tests.ports import free_ports

REPO = Path(__file__).resolve().parents[1]
SANDBOX_YAML = REPO / "targets" / "sandbox.yaml"
PROD_PORT, STAGING_PORT = 8443, 4443
GRPC_PROD_PORT, GRPC_STAGING_PORT = 8444, 4444
METRICS_PORTS = (9101, 9102, 9100)  # production feed, staging feed, reconciler


# The files that take longest, longest first (wall time with three workers on two cores, 2026-12-07:
# about 9 to 73 s each). xdist's loadfile hands out files in collection order (pyproject's addopts
# pass --no-loadscope-reorder, else it starts the files with the most tests first), so the longest
# start first and the short ones fill the gaps at the end: one long file left for last would run
# alone while the other workers have nothing to do. Order only: a stale entry costs time, not
# correctness (test_schedule checks each still exists).
START_FIRST = (
    "tests/release/test_vm_systemd.py",
    "tests/release/test_demo.py",
    "tests/release/test_funnel.py",
    "tests/release/test_vm_install.py",
    "tests/release/test_operator_view.py",
    "tests/reconciler/test_attack_env.py",
    "tests/reconciler/test_crash.py",
    "tests/production/test_tasks_on_fakes.py",
    "tests/reconciler/test_failures.py",
    "tests/reconciler/test_robust.py",
    "tests/sandbox/test_sandbox_up_ports.py",
    "tests/production/test_e2e.py",
    "tests/release/test_staged_rollback.py",
    "tests/feed/test_feed_limits.py",
    "tests/production/test_azure_limits.py",
    "tests/release/test_race.py",
    "tests/release/test_signing_e2e.py",
    "tests/release/test_announce.py",
    "tests/release/test_grpc_smoke.py",
    "tests/reconciler/test_daemon.py",
    "tests/production/test_azure_remote.py",
    "tests/reconciler/test_probe.py",
    "tests/production/test_vm_on_fakes.py",
    "tests/release/test_review.py",
    "tests/release/test_adoption.py",
    "tests/reconciler/test_attack_files.py",
    "tests/release/test_client_view.py",
    "tests/feed/test_feed_server.py",
    "tests/release/test_inspect.py",
    "tests/release/test_archives.py",
)


def pytest_configure(config: pytest.Config) -> None:
    # Set before any test runs, as the product's grpc importer (release/outside/grpcsmoke.py) sets
    # it in any process that imports grpc. A test process that did so mid-run changed what its
    # children inherit, and GRPC_* are start-up variables to the fork server, so the server that
    # the sandbox's remote.python names refused every reconciler call after it: 114 calls in a
    # suite exec'd a new interpreter (0.4 s of CPU each) in place of a fork.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(START_FIRST)}
    # A stable sort: each file's tests keep their order, and the other files theirs.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def run_inv(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``./inv ARGS`` exactly as ``./inv`` runs it: this venv's ``python -m tasks`` in the repo root, the
    venv's tools first on PATH. Text, captured; a non-zero exit is returned, not raised."""
    environment = dict(os.environ if env is None else env)
    if sys.prefix != sys.base_prefix:
        environment["VIRTUAL_ENV"] = sys.prefix
        path = [str(Path(sys.executable).parent), *filter(None, [environment.get("PATH")])]
        environment["PATH"] = os.pathsep.join(path)
    forked = forkserver.run(args, env=environment, cwd=REPO, timeout=timeout)
    if forked is not None:
        return forkserver.text(forked)
    return subprocess.run(
        [sys.executable, "-m", "tasks", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=environment,
        check=False,
    )


def _rewrite(value: Any, ports: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _rewrite(item, ports) for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(item, ports) for item in value]
    if isinstance(value, str):
        # One pass: a free port picked for one endpoint must never be rewritten again as another's.
        pattern = "|".join(re.escape(old) for old in ports)
        return re.sub(pattern, lambda match: ports[match.group(0)], value)
    return value


def write_sandbox_target(root: Path) -> tuple[Target, Path]:
    """A copy of targets/sandbox.yaml rooted at ``root`` on free ports; (target, file)."""
    fixed = (PROD_PORT, STAGING_PORT, GRPC_PROD_PORT, GRPC_STAGING_PORT, *METRICS_PORTS)
    raw = YAML(typ="safe").load(SANDBOX_YAML.read_text(encoding="utf-8"))
    ports = free_ports(len(fixed))
    raw = _rewrite(
        raw, {f"127.0.0.1:{old}": f"127.0.0.1:{new}" for old, new in zip(fixed, ports, strict=True)}
    )
    raw["root"] = str(root)
    launcher = forkserver.launcher()
    if launcher is not None:
        raw["remote"]["python"] = launcher  # the remote's reconciler calls, forked (tests/forklaunch.py)
    # Tests read the desired state where a release checkout keeps it.
    raw.update(manifests_dir="manifests", inbox_dir="release_inbox", archive_dir=".release-archive")
    root.mkdir(parents=True, exist_ok=True)
    target_file = root / "sandbox-target.yaml"
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    with target_file.open("w", encoding="utf-8") as handle:
        yaml.dump(raw, handle)
    target = load_target(str(target_file), REPO)
    for folder in (target.manifests_dir, f"{target.inbox_dir}/beta", f"{target.inbox_dir}/stable"):
        target.path(folder).mkdir(parents=True, exist_ok=True)
    return target, target_file


@dataclass
class Sandbox:
    target: Target
    target_file: Path
    root: Path
    dir: Path

    def remote_calls(self) -> list[dict[str, Any]]:
        path = sandbox_paths(self.target).remote_calls
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def inv(self, *args: str, check: bool = True, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        done = run_inv(*args, "--target", str(self.target_file), timeout=timeout)
        if check and done.returncode != 0:
            pytest.fail(
                f"inv {' '.join(args)} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done


def start_sandbox(root: Path) -> Sandbox:
    target, target_file = write_sandbox_target(root)
    try:
        up(target)
    except BaseException:
        down(target)  # whatever did start must not outlive a failed fixture
        raise
    return Sandbox(target, target_file, root, sandbox_paths(target).dir)


def stop_sandbox(box: Sandbox) -> None:
    paths = sandbox_paths(box.target)
    records = [read_pid_file(pid_file) for pid_file in paths.run_dir.glob("*.pid")]
    down(box.target)
    left = [r.pid for r in records if r is not None and is_alive(r)]
    assert not left, f"sandbox processes left running after down: {left}"
    assert not list(paths.run_dir.glob("*.pid")), "down left pid files behind"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield box
    finally:
        stop_sandbox(box)


@pytest.fixture
def sandbox_target(tmp_path: Path) -> tuple[Target, Path]:
    return write_sandbox_target(tmp_path / "box")


@pytest.fixture
def unix_socket_dir() -> Iterator[Path]:
    """A short directory for Unix sockets (``/tmp/nexy-XXXXXXXX``).

    A socket path must fit ``sun_path``: 104 bytes on macOS, 108 on Linux. pytest's temporary
    directories on a Mac live under ``/private/var/folders/…/pytest-of-<user>/…``, which leaves too
    little room for a test's own names, so every test that binds a socket takes its path from here.
    """
    directory = Path(tempfile.mkdtemp(prefix="nexy-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
