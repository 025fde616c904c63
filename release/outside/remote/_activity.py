"""What holds Run Command up on a VM, read from ARM's instance view (``virtual_machines.instance_view``).

Rules:
- Read only when a call is already slow: after the deadline passed with the operation still
  running, after the in-progress 409 outlasted the deadline, or when the operation failed. The
  instance view is a plain GET, not a Run Command, so it never meets the in-progress 409.
- The shapes are azure-mgmt-compute's ``VirtualMachineInstanceView``: the agent's statuses
  (``ProvisioningState/succeeded`` "Ready", or ``ProvisioningState/Unavailable`` "Not Ready" with
  the time it was last seen, as in the Azure CLI's recorded VM tests) and the RunCommandLinux
  extension's, ``ProvisioningState/transitioning`` while a run is in progress.
- The advice never names a command that is itself a Run Command (``./inv status`` would meet the
  same 409): it names the 90-minute limit after which Run Command ends a run, and
  ``az vm get-instance-view``, which reads the same view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["RUN_LIMIT", "describe_activity", "look_up"]

RUN_LIMIT = "Run Command ends a run after 90 minutes"
_RUN_COMMAND = "runcommandlinux"


def _when(status: Any) -> str:
    time = getattr(status, "time", None)
    if isinstance(time, datetime):
        return time.strftime("%Y-%m-%d %H:%M:%S UTC")
    return "an unknown time"


def describe_activity(view: Any) -> str | None:
    """ "the VM agent is not ready (since …)", "another Run Command has been running since …", or None."""
    agent = getattr(view, "vm_agent", None)
    for status in getattr(agent, "statuses", None) or []:
        if not str(status.code or "").lower().endswith("/succeeded"):
            detail = " ".join(str(status.message or status.display_status or "").split())[:120]
            return f"the VM agent is not ready (since {_when(status)}: {detail})"
    for extension in getattr(view, "extensions", None) or []:
        kind = f"{extension.type or ''} {extension.name or ''}".lower()
        if _RUN_COMMAND not in kind:
            continue
        for status in extension.statuses or []:
            if str(status.code or "").lower().endswith("/transitioning"):
                return f"another Run Command has been running since {_when(status)}"
    return None


def look_up(compute: Any, group: str, vm: str) -> str | None:
    """``describe_activity`` of the VM's instance view; None when ARM does not answer (the caller's
    own error stays the message)."""
    from azure.core.exceptions import AzureError

    try:
        return describe_activity(compute.virtual_machines.instance_view(group, vm))
    except AzureError:
        return None
