"""The steps of a release, one module each: what a task does, from plan to journal line.

Rules: a step uses the parts (``release.parts``) and the outside (``release.outside``), never the
other way round (lint-imports: "release is layered"). Steps may call each other (publish runs the
preflight; ``flow`` is the plumbing they share: one sync, the served-side reads).
"""
