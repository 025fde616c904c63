"""The daemon's self-pipe (reconciler/wakeup.py), in a process of its own: it sets the process's
signal handlers and wakeup fd, which the test worker must keep.

The first case is the stop a test saw take 20 s and end in SIGKILL: a SIGTERM that the main thread's
Python handler has not run for (it landed on another thread, or just before the sleep) must end the
sleep at once. ``pthread_kill`` sends it to another thread on purpose; before the self-pipe, the
daemon's queue wait slept through it until its timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys

from .helpers import REPO

SCRIPT = """
import json, signal, threading
from reconciler.wakeup import Wakeup

seen = []
with Wakeup() as wakeup:
    # Handlers that record nothing: only the pipe's bytes can report these signals.
    signal.signal(signal.SIGTERM, lambda _s, _f: None)
    signal.signal(signal.SIGHUP, lambda _s, _f: None)
    other = threading.Thread(target=lambda: signal.pthread_kill(threading.get_ident(), signal.SIGTERM))
    other.start()
    seen.append(sorted(wakeup.wait(120)))
    other.join()

    signal.pthread_kill(threading.get_ident(), signal.SIGHUP)  # before the sleep, on this thread
    seen.append(sorted(wakeup.wait(120)))

    # Far more events than a pipe holds: the writer never blocks, the rest are dropped.
    flood = threading.Thread(target=lambda: [wakeup.notify() for _ in range(300_000)])
    flood.start()
    flood.join(120)
    seen.append(["flood blocked"] if flood.is_alive() else [])
    # With the pipe full, a signal's byte is dropped: the handler's record still reports it.
    signal.signal(signal.SIGTERM, lambda _s, _f: wakeup.record("term"))
    signal.raise_signal(signal.SIGTERM)
    seen.append(sorted(wakeup.wait(120)))

    seen.append(sorted(wakeup.wait(0.0)))  # nothing left: an empty set after the timeout
print(json.dumps(seen))
"""


def test_a_signal_the_main_thread_did_not_handle_still_ends_the_sleep() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [["term"], ["hup"], [], ["fs", "term"], []]
    assert proc.stderr == ""  # no "wakeup fd buffer full" warning for the dropped bytes
