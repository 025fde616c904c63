"""The sandbox: the production topology (VM tree, reconciler, two TLS feeds, gRPC stand-ins, fixed-tag store) on loopback.

Rules: everything lives under the sandbox directory the target implies (``.sandbox/`` by default);
``up`` is idempotent, ``down`` stops only what ``up`` started, nothing reaches beyond 127.0.0.1.
"""

from release.outside.sandbox_layout import SandboxPaths, sandbox_paths
from release.sandbox.service import PROCESSES, down, status, up

__all__ = ["PROCESSES", "SandboxPaths", "down", "sandbox_paths", "status", "up"]
