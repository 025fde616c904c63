"""The sandbox: the production topology (VM tree, reconciler, two TLS feeds, gRPC stand-ins, fixed-tag store) on loopback.

Rules: everything lives under the sandbox directory the target implies (``.sandbox/`` by default);
``up`` is idempotent, ``down`` stops only what ``up`` started, nothing reaches beyond 127.0.0.1.
The names below are imported when first asked for, not with the package: each ``sandbox.up``
starts two gRPC stand-ins as ``python -m release.sandbox.grpcstub``, which imports this package
first and needs none of them (``service`` brings httpx, cryptography and the whole of ``schemas``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release.outside.sandbox_layout import SandboxPaths, sandbox_paths
    from release.sandbox.service import PROCESSES, down, status, up

__all__ = ["PROCESSES", "SandboxPaths", "down", "sandbox_paths", "status", "up"]

_HOMES = {
    "PROCESSES": "release.sandbox.service",
    "down": "release.sandbox.service",
    "status": "release.sandbox.service",
    "up": "release.sandbox.service",
    "SandboxPaths": "release.outside.sandbox_layout",
    "sandbox_paths": "release.outside.sandbox_layout",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
