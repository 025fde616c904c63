"""How the VM is reached: ``local`` (a subprocess, sandbox) or ``azure`` (Run Command)."""

from .base import AcceptResult, Remote

__all__ = ["AcceptResult", "Remote"]
