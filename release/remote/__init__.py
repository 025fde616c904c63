"""How the VM is reached: ``local`` (a subprocess, sandbox) or ``azure`` (Run Command)."""

from .base import Remote

__all__ = ["Remote"]
