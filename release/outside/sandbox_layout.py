"""Where the sandbox keeps everything, derived from a target so a test can point it at a tmp root.

Rules:
- The sandbox needs a target whose store and remote are both ``local``; anything else is a
  ReleaseError (exit 2) before a file is touched.
- The sandbox directory is the parent of the store root (``.sandbox/`` for targets/sandbox.yaml);
  every other path lives below it, except the CA bundle and the app workspace, which the target names.
- Paths resolve with ``target.path(...)``, never against the current directory by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from release.errors import ReleaseError
from schemas import Target
from schemas.target import LocalRemote, LocalStore

__all__ = ["SandboxPaths", "endpoint_port", "sandbox_paths"]


@dataclass(frozen=True)
class SandboxPaths:
    dir: Path
    store_root: Path
    reconciler_config: Path
    ca_bundle: Path
    workspace: Path

    @property
    def tls_dir(self) -> Path:
        return self.ca_bundle.parent

    @property
    def ca_key(self) -> Path:
        return self.tls_dir / "ca-key.pem"

    @property
    def server_cert(self) -> Path:
        return self.tls_dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.tls_dir / "server-key.pem"

    @property
    def vm_dir(self) -> Path:
        return self.reconciler_config.parent

    @property
    def vm_root(self) -> Path:
        return self.vm_dir / "root"

    @property
    def vm_opt(self) -> Path:
        """Where ``vm.install`` puts the VM side's builds on the sandbox (``/opt/nexy-release`` on a VM)."""
        return self.vm_dir / "opt" / "nexy-release"

    @property
    def desired_dir(self) -> Path:
        return self.vm_dir / "desired"

    @property
    def state_dir(self) -> Path:
        return self.vm_dir / "state"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def gate_action_script(self) -> Path:
        return self.vm_dir / "bin" / "restart_staging.py"

    @property
    def actions_log(self) -> Path:
        return self.dir / "actions.jsonl"

    @property
    def remote_calls(self) -> Path:
        return self.dir / "remote_calls.jsonl"


def sandbox_paths(target: Target) -> SandboxPaths:
    store, remote = target.store, target.remote
    if not isinstance(store, LocalStore) or not isinstance(remote, LocalRemote):
        raise ReleaseError(
            f"target {target.name!r} is not a sandbox: the sandbox needs store.kind and remote.kind 'local'"
        )
    if target.ca_bundle is None:
        raise ReleaseError(f"target {target.name!r}: the sandbox needs ca_bundle (its local CA lives there)")
    store_root = target.path(store.root)
    return SandboxPaths(
        dir=store_root.parent,
        store_root=store_root,
        reconciler_config=target.path(remote.reconciler_config),
        ca_bundle=target.path(target.ca_bundle),
        workspace=target.path(target.workspace),
    )


def endpoint_port(url: str) -> tuple[str, int]:
    """Host and port of an endpoint URL; TLS is the target's decision, so no default port guessing."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ReleaseError(f"sandbox endpoint {url} must name a host and an explicit port")
    return parts.hostname, parts.port
