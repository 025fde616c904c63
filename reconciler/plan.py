"""The plan: for each resource, its actual state compared with the desired state, and the writes
that would make them equal.

Rules:
- Planning only reads; it is what ``diff`` prints and what a pass applies.
- Every resource reduces to whole-file writes of exact bytes (``planwrites``), so applying is
  atomic per file and a plan computed twice from the same files is the same plan.
- Resources are planned in the order of ``resources.RESOURCES``, each by its own plan function;
  what each resource reads and writes, and why in that order, is said there.
- A resource whose desired file is invalid is an error and gets no writes; so is one whose runtime
  file cannot be read (a link, a FIFO, a directory, too big, too deep): the others still plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import RuntimeLayout

from .config import Config
from .desired import Desired
from .envgate import EnvGuard
from .planwrites import (
    FileWrite,
    PlanState,
    ResourcePlan,
    apply_write,
    failure_text,
    read_bytes,
    read_runtime,
)
from .resources import RESOURCES

__all__ = [
    "FileWrite",
    "Plan",
    "PlanState",
    "ResourcePlan",
    "apply_write",
    "compute_plan",
    "failure_text",
    "read_bytes",
    "read_runtime",
]


@dataclass(frozen=True)
class Plan:
    resources: tuple[ResourcePlan, ...]
    digest: str

    @property
    def in_sync(self) -> bool:
        return all(resource.state in ("in_sync", "unmanaged") for resource in self.resources)

    @property
    def has_error(self) -> bool:
        return any(resource.state == "error" for resource in self.resources)


def compute_plan(desired: Desired, layout: RuntimeLayout | Config) -> Plan:
    """The plan; given the whole Config, the gate also guards required keys and keeps a backup."""
    guard: EnvGuard | None = None
    if not isinstance(layout, RuntimeLayout):
        guard, layout = layout.env_guard, layout.layout
    resources = []
    for resource in RESOURCES:
        field = resource.desired_field
        if desired.blocks(field):
            found = f"desired {desired.errors.get(field) or desired.errors['bundle']}"
            resources.append(ResourcePlan(resource.name, "error", found=found, from_desired=True))
            continue
        try:
            resources.append(resource.plan(resource, desired, layout, guard))
        except Exception as exc:  # any file, however hostile, is this resource's error only
            found = f"cannot read: {failure_text(exc)}"[:160]
            resources.append(ResourcePlan(resource.name, "error", found=found))
    return Plan(tuple(resources), desired.digest())
