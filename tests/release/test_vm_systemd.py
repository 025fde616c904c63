"""``vm.install``, ``vm.upgrade`` and a failed upgrade under a real systemd: PID 1 of a container.

Rules:
- The container is ``systemd-nspawn`` booting a Debian root that ``.ci/nspawn-rootfs`` makes once
  per machine (the test never downloads anything). It runs ephemeral (``-x``: a copy thrown away at
  exit) with a private network, so the feeds' ports 443 and 4443 are the container's own loopback.
- What runs is what ``vm.install`` sends for the production target (``install_body`` in
  ``launcher``), fed to ``/bin/sh`` on stdin as root, as Run Command runs it; the units, the
  hardening, ``systemd-analyze verify``/``security``, ``useradd``, ``runuser`` and the restarts are
  the real ones. Three inputs differ from a VM, each because a test stays on this machine:
  the dependencies come from this venv's site-packages bound read-only (``link:``, not PyPI; at a
  fixed path, as a checkout under /tmp would be hidden by the units' ``PrivateTmp=``); the
  health checks ask ``https://127.0.0.1`` with the sandbox CA (the VM's host name does not
  resolve here); the certificate is the sandbox's, put where certbot puts it.
- Where no container can boot (not Linux, not root, no systemd-nspawn, no Debian root, or a machine
  that forbids it), one skip line says which, before any of the project's code has run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.parts.target import load_target
from release.sandbox.tls import ensure_certificates
from release.sandbox.tree import seed
from release.steps.vm import MAX_EXPOSURE, script_inputs
from release.steps.vm_artifact import Artifact, build_artifact
from release.steps.vm_script import ScriptInputs, VmFacts, VmReport, check_body, install_body, launcher
from tests.conftest import REPO, write_sandbox_target

from .helpers import copy_source

pytestmark = pytest.mark.timeout(900)

ROOTFS = Path(os.environ.get("NEXY_NSPAWN_ROOT", "/var/tmp/nexy-nspawn-root"))
BOOT_DEADLINE_S = 180.0
APP_TREE = "/home/azureuser/voice-assistant"
# This venv's site-packages, bound where the units can read it: not below /tmp (PrivateTmp= hides a
# checkout's venv there) nor /home (ProtectHome=read-only would do, but an app user's home is theirs).
DEPS_IN_VM = "/usr/local/lib/nexy-test-deps"
SERVICES = ("nexy-reconciler.service", "nexy-feed@production.service", "nexy-feed@staging.service")


def _cannot_boot() -> str | None:
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("systemd-nspawn") is None or shutil.which("nsenter") is None:
        return "no systemd-nspawn/nsenter (apt-get install systemd-container)"
    if not (ROOTFS / ".nexy-rootfs-complete").is_file():
        return f"no Debian root at {ROOTFS} (make one with .ci/nspawn-rootfs)"
    return None


@dataclass
class Vm:
    """A booted container: run commands and the VM scripts in it as root."""

    leader: int
    work: Path
    production: ScriptInputs

    def sh(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def out(self, command: str) -> str:
        done = self.sh(command)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        return done.stdout

    def script(self, body: str, what: str) -> tuple[int, str, str]:
        """Run ``body`` through the launcher as Run Command does; the exit code, RESULT's JSON, stderr."""
        done = subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", "sh"],
            input="\n".join(launcher(body, what)) + "\n",
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        assert results, f"no RESULT line:\n{done.stdout}\n{done.stderr}"
        return done.returncode, results[-1].removeprefix("RESULT "), done.stdout + done.stderr

    def install(self, artifact: Artifact, name: str, mode: str) -> tuple[int, VmReport, str]:
        path = self.work / name
        path.write_bytes(artifact.tarball)
        inputs = replace(self.production, mode=mode, build=artifact.build, wheel=artifact.wheel_name)
        code, result, log = self.script(install_body(replace(inputs, artifact=str(path))), f"vm.{mode}")
        return code, VmReport.model_validate_json(result), log

    def check(self) -> VmFacts:
        _, result, _ = self.script(check_body(self.production), "vm.check")
        return VmFacts.model_validate_json(result)

    def running_build(self) -> dict[str, str]:
        """The build directory each service's main process runs from (its interpreter's path)."""
        found = {}
        for unit in SERVICES:
            pid = self.out(f"systemctl show -p MainPID --value {unit}").strip()
            argv = self.out(f"ps -o args= -p {pid}").split()
            found[unit] = argv[0].removeprefix("/opt/nexy-release/").split("/")[0]
        return found

    def tree(self, where: str) -> str:
        return self.out(f"find {where} -type f -exec sha256sum {{}} + | sort -k 2")


def _wait_running(nspawn: subprocess.Popen[bytes], log: Path) -> int | None:
    """The container's PID 1 once ``systemctl is-system-running`` says running (or degraded)."""
    end = time.monotonic() + BOOT_DEADLINE_S
    while time.monotonic() < end and nspawn.poll() is None:
        for child in psutil.Process(nspawn.pid).children():
            state = subprocess.run(
                ["nsenter", "-t", str(child.pid), "-a", "systemctl", "is-system-running"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if state in ("running", "degraded"):
                return child.pid
        # The boot takes seconds; polling its state is the only signal nspawn gives without machined.
        time.sleep(0.5)
    return None


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vm]:
    why = _cannot_boot()
    if why is not None:
        pytest.skip(f"no real systemd here ({why}): vm.* is tested on the sandbox and the fake ARM server")
    work = tmp_path_factory.mktemp("vm-systemd")
    box, _ = write_sandbox_target(work / "box")
    paths = sandbox_paths(box)
    seed(box, paths)
    ensure_certificates(paths)
    purelib = sysconfig.get_path("purelib")
    log = work / "boot.log"
    with log.open("wb") as sink:
        nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "--quiet",
                f"--directory={ROOTFS}",
                "--ephemeral",
                "--register=no",
                "--keep-unit",
                "--private-network",
                "--boot",
                "--console=pipe",
                f"--bind-ro={purelib}:{DEPS_IN_VM}",
                f"--bind-ro={work}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        leader = _wait_running(nspawn, log)
        if leader is None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"no real systemd here (systemd-nspawn did not boot {ROOTFS}: {tail[0]})")
        production = load_target("production", REPO)
        host = production.release_target.server.host
        inputs = replace(
            script_inputs(production, build_artifact(REPO, production), "install", deps=f"link:{DEPS_IN_VM}"),
            production_url="https://127.0.0.1:443",
            staging_url="https://127.0.0.1:4443",
            ca_bundle=str(paths.ca_bundle),
        )
        machine = Vm(leader, work, inputs)
        # What the VM has before vm.install: its admin user, the app server's tree, certbot's files.
        machine.out(
            "set -e; useradd --create-home azureuser; "
            f"mkdir -p {APP_TREE} && cp -a {paths.vm_root}/. {APP_TREE}/ && chown -R azureuser: {APP_TREE}; "
            f"mkdir -p /etc/letsencrypt/live/{host}; "
            f"cp {paths.server_cert} /etc/letsencrypt/live/{host}/fullchain.pem; "
            f"cp {paths.server_key} /etc/letsencrypt/live/{host}/privkey.pem"
        )
        yield machine
    finally:
        nspawn.terminate()  # SIGTERM: nspawn powers the container off, and -x removes its copy
        try:
            nspawn.wait(timeout=90)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait(timeout=30)


def test_install_starts_the_units_and_a_second_install_is_a_skip(vm: Vm) -> None:
    artifact = build_artifact(REPO, load_target("production", REPO))
    code, report, log = vm.install(artifact, "first.tar.gz", "install")
    assert code == 0 and report.ok, log
    assert report.action == "installed" and report.steps["verify"] == "ok", log
    assert report.steps["check"] == "health and reconciler status answer"
    assert (
        vm.out(f"systemctl is-active {' '.join(SERVICES)} nexy-gate-restart.path").split() == ["active"] * 4
    )
    assert set(vm.running_build().values()) == {artifact.build}
    assert vm.out("stat -c '%U:%G %a' /opt/nexy-release /etc/nexy-reconciler/env").split("\n")[:2] == [
        "root:root 755",
        "root:root 600",
    ]

    code, again, log = vm.install(artifact, "first.tar.gz", "install")
    assert (code, again.action) == (0, "skip"), log

    facts = vm.check()
    assert facts.build == artifact.build
    assert set(facts.units) == {path.name for path in (REPO / "systemd").glob("*.service")} | {
        "nexy-gate-restart.path"
    }
    for name, digest in facts.units.items():
        assert digest == vm.out(f"sha256sum /opt/nexy-release/current/systemd/{name}").split()[0], name
    # systemd-analyze security, the real one: every service rated, none past the project's ceiling.
    assert set(facts.exposure) == {name for name in facts.units if name.endswith(".service")}
    assert all(float(score) <= MAX_EXPOSURE for score in facts.exposure.values()), facts.exposure


def _build(into: Path, file: str, appended: str) -> Artifact:
    """The production artifact of a copy of this checkout with ``appended`` added to ``file``."""
    source = copy_source(into)
    with (source / file).open("a") as handle:
        handle.write(appended)
    return build_artifact(source, load_target("production", REPO))


def test_upgrade_switches_and_restarts_and_keeps_the_runtime_tree(vm: Vm, tmp_path: Path) -> None:
    before = vm.tree(APP_TREE)
    old = vm.out("readlink /opt/nexy-release/current").strip()
    artifact = _build(tmp_path / "changed", "feed/__init__.py", "# a changed build\n")
    code, report, log = vm.install(artifact, "changed.tar.gz", "upgrade")
    assert code == 0 and (report.action, report.previous) == ("upgraded", old), log
    assert set(vm.running_build().values()) == {artifact.build}
    assert vm.out(f"test -f /opt/nexy-release/{old}/.complete && echo kept").strip() == "kept"
    assert vm.tree(APP_TREE) == before


def test_a_failed_upgrade_switches_back_and_the_old_build_runs_again(vm: Vm, tmp_path: Path) -> None:
    before = vm.tree(APP_TREE)
    good = vm.out("readlink /opt/nexy-release/current").strip()
    broken = "\n\ndef main(argv: object = None) -> int:\n    raise SystemExit(3)\n"
    artifact = _build(tmp_path / "broken", "reconciler/cli.py", broken)
    code, report, log = vm.install(artifact, "broken.tar.gz", "upgrade")
    assert code == 1 and report.action == "rolled_back", log
    assert f"switched back to {good}" in (report.error or ""), log
    assert vm.out("readlink /opt/nexy-release/current").strip() == good
    assert vm.out(f"systemctl is-active {' '.join(SERVICES)}").split() == ["active"] * 3
    assert set(vm.running_build().values()) == {good}
    assert vm.tree(APP_TREE) == before
