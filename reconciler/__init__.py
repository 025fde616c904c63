"""The VM-side reconciler: keeps the runtime manifests, config version and beta gate equal to the desired state.

Rules: it imports only ``schemas`` (never ``release`` or ``feed``); every write goes through
``schemas.atomic_write``; bad desired input never damages the last good runtime state.
"""

__all__: list[str] = []
