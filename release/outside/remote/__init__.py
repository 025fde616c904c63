"""How the VM is reached: ``local`` (a subprocess, sandbox) or ``azure`` (Run Command)."""

from release.outside.remote.base import Remote

__all__ = ["Remote"]
