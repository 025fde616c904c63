"""Shared helpers for the reconciler tests: a temporary VM tree, bundles, the real CLI process.

Rules: every test runs the real ``python -m reconciler`` process against files under tmp_path;
waiting is polling with a generous deadline, never a fixed sleep used as an assertion.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas import BetaGate, Bundle, Manifest, dump_model, utcnow
from tests import forkserver

__all__ = [
    "FIXTURES",
    "Daemon",
    "Vm",
    "apply",
    "bundle",
    "make_manifest",
    "make_vm",
    "run_cli",
    "wait_for",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vm"
REPO = Path(__file__).resolve().parents[2]


PUBLISHED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_manifest(version: str, channel: str = "stable", build: str | None = None) -> Manifest:
    def artifact(name: str) -> dict[str, Any]:
        digest = hashlib.sha256(f"{name}-{version}-{channel}".encode()).hexdigest()
        tag = {
            "stable": {"Nexy.dmg": "Update", "Nexy.pkg": "App"},
            "beta": {"Nexy.dmg": "UpdateBeta", "Nexy.pkg": "AppBeta"},
        }
        url = f"https://github.com/example/nexy-assets/releases/download/{tag[channel][name]}/{name}"
        return {"name": name, "url": url, "size": 1000 + len(version), "sha256": digest}

    return Manifest.create(
        version=version,
        build=build or version,
        channel=channel,
        artifact=artifact("Nexy.dmg"),
        installer=artifact("Nexy.pkg"),
        release_notes=f"Release {version}",
        # Fixed, so two bundles made a second apart still name the same stable release.
        published_at=PUBLISHED_AT,
    )


def bundle(
    stable: str | None = "2.0.0.15", beta: str | None = "2.0.0.16", gate: bool | None = True
) -> Bundle:
    return Bundle(
        stable=make_manifest(stable) if stable else None,
        beta=make_manifest(beta, "beta") if beta else None,
        gate=BetaGate(enabled=gate, updated_at=utcnow(), reason="test") if gate is not None else None,
    )


@dataclass
class Vm:
    root: Path
    config: Path

    @property
    def manifests(self) -> Path:
        return self.root / "server/updates/manifests"

    @property
    def unified(self) -> Path:
        return self.root / "server/config/unified_config.yaml"

    @property
    def legacy(self) -> Path:
        return self.root / "server/server/updates/manifests/manifest.json"

    @property
    def env(self) -> Path:
        return self.root / "config.env"

    @property
    def desired(self) -> Path:
        return self.state / "desired"

    @property
    def state(self) -> Path:
        # Beside the runtime tree, never in it: the config refuses a state dir under layout.root.
        return self.root.parent / "state"

    def status(self) -> dict[str, Any] | None:
        try:
            document: dict[str, Any] = json.loads((self.state / "status.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return document

    def runtime_matches(self, b: Bundle) -> bool:
        """Every runtime file equals the desired state of ``b``."""
        assert b.stable is not None and b.beta is not None and b.gate is not None
        stable = dump_model(b.stable)
        files = [
            self.manifests / "manifest.json",
            self.manifests / f"manifest_{b.stable.version}.json",
            self.legacy,
        ]
        if any(not f.exists() or f.read_bytes() != stable for f in files):
            return False
        if not (self.manifests / "manifest_beta.json").exists():
            return False
        if (self.manifests / "manifest_beta.json").read_bytes() != dump_model(b.beta):
            return False
        text = self.unified.read_text()
        if (
            f'default_version: "{b.stable.version}"' not in text
            or f'default_build: "{b.stable.build}"' not in text
        ):
            return False
        want = "true" if b.gate.enabled else "false"
        return f"\nUPDATE_BETA_ENABLED={want}\n" in self.env.read_text()


def make_vm(tmp: Path, mode: str = "enforce", extra: str = "", legacy: bool = True) -> Vm:
    root = tmp / "vm"
    (root / "server/updates/manifests").mkdir(parents=True)
    (root / "server/config").mkdir(parents=True)
    shutil.copy(FIXTURES / "unified_config.yaml", root / "server/config/unified_config.yaml")
    shutil.copy(FIXTURES / "config.env", root / "config.env")
    os.chmod(root / "config.env", 0o600)
    if legacy:
        (root / "server/server/updates/manifests").mkdir(parents=True)
        (root / "server/server/updates/manifests/manifest.json").write_text("{}\n")
    config = root / "reconciler.yaml"
    config.write_text(
        f"mode: {mode}\n"
        "layout:\n  root: .\n"
        "desired_dir: ../state/desired\n"
        "state_dir: ../state\n"
        "resync_seconds: 300\n"
        "required_env_keys: [GEMINI_API_KEY, OPENAI_API_KEY]\n"
        "alerts:\n  rate_limit_seconds: 300\n" + extra
    )
    return Vm(root, config)


def run_cli(
    vm: Vm, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environ, **(env or {})}
    argv = ["--config", str(vm.config), *args]
    forked = forkserver.run(
        argv, env=environment, cwd=REPO, timeout=timeout, module="reconciler", input=stdin
    )
    if forked is not None:
        return forked
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *argv],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=REPO,
        env=environment,
        check=False,
    )


def apply(vm: Vm, b: Bundle) -> int:
    """Commit ``b`` with ``accept`` and apply it with ``once``, as when no daemon runs; once's exit."""
    accepted = run_cli(vm, "accept", stdin=b.model_dump_json().encode())
    assert accepted.returncode == 0, accepted.stderr
    return run_cli(vm, "once").returncode


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Daemon:
    """The real daemon process, started on a VM tree; stderr (alert lines) goes to a file."""

    def __init__(self, vm: Vm, env: dict[str, str] | None = None) -> None:
        self.vm = vm
        self.log = vm.root / f"daemon-{time.monotonic_ns()}.log"
        self._log_handle = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--config", str(vm.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=self._log_handle,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            status = self.vm.status()
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            return status is not None and status["pid"] == self.proc.pid and len(status["passes"]) >= 2

        wait_for(ready, timeout, "the daemon's first passes")

    def alerts(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"event":"alert"')]

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The daemon stopped by SIGSTOP for the block, and seen stopped before it starts: nothing
        it does (a heal of a file the block removes, say) can land in the middle of the block."""
        self.proc.send_signal(signal.SIGSTOP)
        # WUNTRACED returns once the child is stopped, and leaves it to Popen to reap later.
        _pid, state = os.waitpid(self.proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(state), f"the daemon ended (wait status {state}) instead of stopping"
        try:
            yield
        finally:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_handle.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._log_handle.close()
