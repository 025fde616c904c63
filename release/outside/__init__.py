"""The outside world as the workstation sees it: the asset store, the VM (remote), HTTP and gRPC probes.

Rules: nothing here imports a part or a step (lint-imports: "release is layered"); what talks to
GitHub, Azure or an endpoint is injected into the steps through ``backends`` and the ``Session``.
"""
