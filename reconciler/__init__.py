"""The VM-side reconciler: keeps the runtime manifests, config version and beta gate equal to the desired state.

Rules: it imports only ``schemas`` (never ``release`` or ``feed``); every write goes through
``schemas.atomic_write``; bad desired input never damages the last good runtime state.

One module per idea, named for it; docs/architecture.md#inside-reconciler maps them. Those that are
easy to confuse: ``plan`` is the whole plan of a pass and ``planwrites`` one resource's plan and
its file writes; ``documents`` builds the status and plan documents, ``statusfile`` keeps
``status.json``; ``manifestdiff`` words a manifest's differences; ``probeexpect`` is what the
probes expect; ``owedactions`` the actions owed, ``ownedfiles`` the files owned; ``envlines`` edits
``config.env``'s bytes, ``envgate`` the file itself.
"""

__all__: list[str] = []
