"""The workstation side: what the invoke tasks do.

Rules: never imports ``reconciler`` or ``feed``; talks to the VM only through a ``Remote`` that runs
the reconciler's own CLI there, and to asset storage only through a ``Store``.
"""
