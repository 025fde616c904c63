"""Test helpers for the feed: a runtime tree on disk and the real ``nexy-feed`` process on loopback.

Rules: files are written with ``schemas.atomic_write`` as the reconciler does; the server is the
installed console script in a subprocess; waiting is polling with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from schemas import Manifest, RuntimeLayout, atomic_write, dump_model
from tests.ports import free_port

__all__ = [
    "FEED_BIN",
    "VM_FIXTURES",
    "FeedProcess",
    "RuntimeTree",
    "free_port",
    "make_manifest",
    "wait_until",
]

REPO = Path(__file__).resolve().parents[2]
FEED_BIN = Path(sys.executable).with_name("nexy-feed")
SPARKLE_TEST_SIGNATURE = (
    "EIawm2YkDZ2gBfkEMF2+1VuuTeXnCGZOdnMdVgPPvDZioq7bvDayXqKkIIzSjKMmeFdcFJOHdnba5ZV60+gPBw=="
)
# The reconciler's copy in the repo is preferred; the shared originals serve until it lands.
VM_FIXTURES = REPO / "tests" / "fixtures" / "vm"
if not (VM_FIXTURES / "unified_config.yaml").is_file():
    VM_FIXTURES = Path("/work/shared/fixtures/vm")


def make_manifest(
    version: str,
    channel: str = "stable",
    *,
    build: str | None = None,
    notes: str = "Bug fixes.",
    size: int = 1234,
    signed: bool = False,
    minimum_system_version: str | None = None,
) -> Manifest:
    digit = version.rsplit(".", 1)[-1][-1]
    tags = ("Update", "App") if channel == "stable" else ("UpdateBeta", "AppBeta")
    base = "https://github.com/Seregawpn/Nexy_production/releases/download"
    return Manifest.create(
        version=version,
        build=build or version,
        channel=channel,
        artifact={
            "name": "Nexy.dmg",
            "url": f"{base}/{tags[0]}/Nexy.dmg",
            "size": size,
            "sha256": digit * 64 if digit in "0123456789" else "a" * 64,
            # Sparkle's own test signature (Tests/SUSignatureVerifierTest.m): 64 bytes, as a client requires.
            "ed_signature": SPARKLE_TEST_SIGNATURE if signed else None,
        },
        installer={
            "name": "Nexy.pkg",
            "url": f"{base}/{tags[1]}/Nexy.pkg",
            "size": size * 2,
            "sha256": "b" * 64,
        },
        release_notes=notes,
        published_at=datetime(2026, 2, 25, 12, 30, tzinfo=UTC),
        minimum_system_version=minimum_system_version,
    )


class RuntimeTree:
    """The VM's runtime files under ``root``, laid out as ``schemas.RuntimeLayout`` says."""

    def __init__(self, root: Path) -> None:
        self.layout = RuntimeLayout(root=root)
        self.root = root

    def install_fixtures(self, *, gate: bool = False) -> None:
        self.layout.unified_config_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(VM_FIXTURES / "unified_config.yaml", self.layout.unified_config_path)
        shutil.copyfile(VM_FIXTURES / "config.env", self.layout.config_env_path)
        if gate:
            self.set_gate(True)

    def set_default_version(self, version: str, build: str | None = None) -> None:
        text = self.layout.unified_config_path.read_text()
        lines = []
        for line in text.splitlines(keepends=True):
            if line.strip().startswith("default_version:"):
                line = f'  default_version: "{version}"\n'
            elif line.strip().startswith("default_build:"):
                line = f'  default_build: "{build or version}"\n'
            lines.append(line)
        atomic_write(self.layout.unified_config_path, "".join(lines).encode())

    def set_gate(self, enabled: bool) -> None:
        text = self.layout.config_env_path.read_text()
        value = "true" if enabled else "false"
        new = [
            f"UPDATE_BETA_ENABLED={value}" if line.startswith("UPDATE_BETA_ENABLED=") else line
            for line in text.splitlines()
        ]
        atomic_write(self.layout.config_env_path, ("\n".join(new) + "\n").encode())

    def write_stable(self, manifest: Manifest, *, pair: bool = True, set_default: bool = True) -> None:
        atomic_write(self.layout.versioned_manifest(manifest.version), dump_model(manifest))
        if pair:
            atomic_write(self.layout.stable_manifest, dump_model(manifest))
        if set_default:
            self.set_default_version(manifest.version, manifest.build)

    def write_beta(self, manifest: Manifest) -> None:
        atomic_write(self.layout.beta_manifest, dump_model(manifest))

    def write_raw(self, path: Path, data: bytes) -> None:
        atomic_write(path, data)


def wait_until(condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns a truthy value; fail with its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (httpx.TransportError, OSError) as exc:
            last = exc  # not up yet: keep polling
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last: {last!r})")


class FeedProcess:
    """``nexy-feed`` in a subprocess on 127.0.0.1, ready once ``/health`` answers."""

    def __init__(
        self, root: Path, log_path: Path, *extra: str, scheme: str = "http", env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.args = [
            str(FEED_BIN),
            "--root",
            str(root),
            "--port",
            str(self.port),
            "--log-level",
            "info",
            *extra,
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, **(env or {})}

    def start(self, client: httpx.Client) -> FeedProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=log, env=self.env)

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"nexy-feed exited {self.process.returncode}: {self.log()}")
            return client.get(f"{self.base_url}/health").status_code == 200

        wait_until(ready, timeout=30.0)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
