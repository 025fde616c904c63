"""The sandbox runs where there is no /proc (macOS): up, status, the gate action and down, for real.

Every Python process of the run (the task, the launcher, the reconciler, both feeds, the gate action
the reconciler would run) starts with an audit hook (``sys.addaudithook``, via a ``sitecustomize`` on
PYTHONPATH) that makes any open, listdir or scandir of a /proc path fail as it does on macOS
(FileNotFoundError) and records it. psutil is the one thing allowed to look there: it is the
portable layer, which on macOS asks sysctl instead. prometheus_client's process collector gets the
macOS answer unrecorded: it tries /proc/stat and collects nothing when it is absent. A grep cannot see a path built at run time; this
can. ``test_no_workstation_code_names_proc`` is the cheap guard on top.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from release.sandbox import down
from tests.conftest import REPO, write_sandbox_target

pytestmark = pytest.mark.timeout(240)

NO_PROC = '''\
"""Test harness: this interpreter behaves as if it ran on macOS, where /proc does not exist."""
import importlib.util
import os
import sys

_LOG = os.environ["NEXY_PROC_LOG"]
_spec = importlib.util.find_spec("psutil")
_PSUTIL = os.path.dirname(_spec.origin) + os.sep if _spec and _spec.origin else None
_EVENTS = {"open", "os.listdir", "os.scandir"}
# prometheus_client's process collector tries /proc/stat and, on OSError (macOS), collects nothing:
# it gets macOS's answer here too, and that is no dependency on /proc, so it is not recorded.
_probe = importlib.util.find_spec("prometheus_client")
_PROBES = (os.path.join(os.path.dirname(_probe.origin), "process_collector.py"),) if _probe and _probe.origin else ()


def _path(value):
    if isinstance(value, int) or value is None:
        return None
    try:
        return os.path.abspath(os.fsdecode(value))
    except TypeError:
        return None


def _hook(event, args):
    if event not in _EVENTS or not args:
        return
    path = _path(args[0])
    if path is None or not (path == "/proc" or path.startswith("/proc/")):
        return
    frame = sys._getframe(1)
    while frame is not None:
        if _PSUTIL and frame.f_code.co_filename.startswith(_PSUTIL):
            return
        frame = frame.f_back
    where = sys._getframe(1)
    if where.f_code.co_filename in _PROBES:
        raise FileNotFoundError(2, "No such file or directory (no /proc here)", path)
    line = f"{os.getpid()} {' '.join(sys.argv[:3])}: {event} {path} from {where.f_code.co_filename}:{where.f_lineno}\\n"
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    raise FileNotFoundError(2, "No such file or directory (no /proc here)", path)


sys.addaudithook(_hook)
'''

RUN = """\
import json, subprocess, sys
from pathlib import Path
from release.sandbox import down, status, up
from release.outside.sandbox_layout import sandbox_paths
from release.sandbox.tree import reconciler_config
from release.parts.target import load_target

target = load_target(sys.argv[1], Path(sys.argv[2]))
paths = sandbox_paths(target)
result = {"up": up(target)}
result["status"] = status(target)
# The command the reconciler runs after a gate change, run as the reconciler would.
gate = reconciler_config(target, paths)["actions"]["gate"]
result["gate_exit"] = subprocess.run(gate, check=False).returncode
result["actions"] = [json.loads(line) for line in paths.actions_log.read_text().splitlines()]
result["down"] = down(target)
result["after"] = status(target)
print(json.dumps(result))
"""


@pytest.fixture
def hook_dir() -> Iterator[Path]:
    # Short, so nothing here depends on where pytest keeps its temporary files.
    directory = Path(tempfile.mkdtemp(prefix="noproc-", dir="/tmp"))
    (directory / "sitecustomize.py").write_text(NO_PROC, encoding="utf-8")
    try:
        yield directory
    finally:
        for child in directory.iterdir():
            child.unlink()
        directory.rmdir()


def test_up_status_gate_and_down_never_read_proc(hook_dir: Path, tmp_path: Path) -> None:
    target, target_file = write_sandbox_target(tmp_path / "box")
    log = hook_dir / "proc-reads.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NEXY_PROC_LOG"] = str(log)
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(target_file), str(REPO)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=200,
            check=False,
        )
    finally:
        down(target)  # whatever did start must not outlive a failed run
    reads = log.read_text() if log.exists() else ""
    assert not reads, f"/proc was read:\n{reads}"
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["up"] == dict.fromkeys(
        ("reconciler", "production-feed", "staging-feed", "production-grpc", "staging-grpc"), "started"
    )
    assert result["status"]["all_alive"] is True
    staging_pid = result["status"]["processes"]["staging-feed"]["pid"]
    assert result["gate_exit"] == 0
    assert result["actions"][-1]["signalled"] == staging_pid, result["actions"]
    assert {outcome.split(" pid ")[0] for outcome in result["down"].values()} == {"stopped"}
    assert not any(process["alive"] for process in result["after"]["processes"].values())


def test_the_hook_really_stops_a_proc_read(hook_dir: Path) -> None:
    """The harness itself: a /proc read outside psutil fails and is recorded; psutil's are allowed."""
    log = hook_dir / "proc-reads.log"
    env = dict(os.environ, PYTHONPATH=str(hook_dir), NEXY_PROC_LOG=str(log))
    probe = (
        "import os, psutil\n"
        "assert psutil.Process(os.getpid()).cmdline()\n"
        "try:\n"
        "    open(f'/proc/{os.getpid()}/cmdline', 'rb').read()\n"
        "except FileNotFoundError:\n"
        "    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert done.stdout.strip() == "refused", done.stderr
    assert "/cmdline" in log.read_text()


# Workstation-side code: none of it may name /proc (the sandbox's processes run reconciler/ and feed/).
SCANNED = ("tasks", "release", "schemas", "feed", "reconciler", "bench")


def test_no_workstation_code_names_proc() -> None:
    pattern = re.compile(r"""["'/]proc[/"']|/proc\b""")
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in SCANNED
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    found += [
        f"inv:{n}" for n, line in enumerate((REPO / "inv").read_text().splitlines(), 1) if "/proc" in line
    ]
    assert not found, "workstation code names /proc:\n" + "\n".join(found)
