"""A program for ``test_forkserver``: what it prints and how it exits, by its first argument.

``show`` prints argv, the working directory, ``__name__`` and one variable, then what stdin held on
stderr, and exits 3; ``raise`` dies of an uncaught error; ``term`` dies of SIGTERM; ``wait`` prints
its pid and blocks until a signal ends it.
"""

from __future__ import annotations

import json
import os
import signal
import sys

if sys.argv[1] == "show":
    print(
        json.dumps(
            {"argv": sys.argv, "cwd": os.getcwd(), "name": __name__, "var": os.environ.get("NEXY_PROBE")}
        )
    )
    print("stdin held", repr(sys.stdin.read()), file=sys.stderr)
    sys.exit(3)
if sys.argv[1] == "raise":
    raise LookupError("the probe raised")
if sys.argv[1] == "term":
    os.kill(os.getpid(), signal.SIGTERM)
if sys.argv[1] == "wait":
    print(os.getpid(), flush=True)
    signal.pause()
