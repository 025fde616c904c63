"""What outlives a process: alert memory, owed actions after a SIGKILL, and temp files a kill left."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import Daemon, Vm, apply, bundle, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)


def _alerts(stderr: bytes) -> list[tuple[str, str, str]]:
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith('{"event":"alert"')]
    return [(a["resource"], a["kind"], a["status"]) for a in lines]


def _flip_gate(vm: Vm, to: str) -> None:
    other = "false" if to == "true" else "true"
    vm.env.write_text(vm.env.read_text().replace(f"UPDATE_BETA_ENABLED={other}", f"UPDATE_BETA_ENABLED={to}"))


def test_once_remembers_what_was_alerted(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, mode="observe")
    b = bundle()
    assert run_cli(vm, "accept", stdin=b.model_dump_json().encode()).returncode == 0
    first = run_cli(vm, "once")
    assert first.returncode == 1
    fired = _alerts(first.stderr)
    assert ("gate", "drift", "firing") in fired and ("stable", "drift", "firing") in fired
    # A second process sees the same drift: already alerted, so nothing new.
    second = run_cli(vm, "once")
    assert second.returncode == 1 and _alerts(second.stderr) == []
    # The gate stops being managed: its drift is resolved, once, by a third process.
    unmanaged = b.model_copy(update={"gate": None})
    assert run_cli(vm, "accept", stdin=unmanaged.model_dump_json().encode()).returncode == 0
    third = run_cli(vm, "once")
    assert _alerts(third.stderr) == [("gate", "drift", "resolved")]
    assert oct((vm.state / "alerts.json").stat().st_mode & 0o777) == "0o600"


def test_rate_window_survives_the_process(vm: Vm) -> None:
    assert apply(vm, bundle()) == 0
    _flip_gate(vm, "false")
    first = run_cli(vm, "once")
    assert first.returncode == 0
    assert _alerts(first.stderr) == [("gate", "drift", "firing"), ("gate", "drift", "resolved")]
    _flip_gate(vm, "false")
    second = run_cli(vm, "once")
    assert second.returncode == 0 and _alerts(second.stderr) == [("gate", "drift", "suppressed")]
    # A corrupt memory is a fresh start (one duplicate at worst), never a failed pass.
    (vm.state / "alerts.json").write_text("{not json")
    _flip_gate(vm, "false")
    third = run_cli(vm, "once")
    assert third.returncode == 0 and ("gate", "drift", "firing") in _alerts(third.stderr)


ACTION = """
import os, sys, time
marker = sys.argv[1]
runs = open(marker).read().count("run") if os.path.exists(marker) else 0
open(marker, "a").write(f"run {os.getpid()}\\n")
if runs == 0:
    time.sleep(60)  # the first run hangs, so the test can SIGKILL the daemon mid-action
"""


def test_action_owed_at_sigkill_runs_after_restart(tmp_path: Path) -> None:
    marker = tmp_path / "restarts.txt"
    script = tmp_path / "restart.py"
    script.write_text(ACTION)
    vm = make_vm(
        tmp_path, extra=f"actions:\n  gate: [{sys.executable!r}, {str(script)!r}, {str(marker)!r}]\n"
    )
    pending = vm.state / "pending_actions.json"
    daemon = Daemon(vm)
    daemon.wait_ready()
    assert run_cli(vm, "accept", stdin=bundle().model_dump_json().encode()).returncode == 0
    wait_for(lambda: marker.exists() and marker.read_text().count("run") == 1, 20, "the action started")
    assert json.loads(pending.read_text()) == {"pending": ["gate"]}
    daemon.kill()
    os.kill(int(marker.read_text().split()[1]), signal.SIGKILL)  # the orphaned first run
    assert "\nUPDATE_BETA_ENABLED=true\n" in vm.env.read_text()  # written before its action started
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        wait_for(lambda: marker.read_text().count("run") == 2, 20, "the owed action after restart")
        wait_for(lambda: json.loads(pending.read_text()) == {"pending": []}, 20, "owed list cleared")
        logged = [
            json.loads(line) for line in daemon.log.read_text().splitlines() if '"event":"action"' in line
        ]
        assert logged and logged[0]["resource"] == "gate" and logged[0]["returncode"] == 0
        before = vm.status()["passes"]  # type: ignore[index]
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: vm.status()["passes"] != before, 20, "a pass after SIGHUP")  # type: ignore[index]
        time.sleep(0.2)  # a (wrong) third run would have started by now
        assert marker.read_text().count("run") == 2
    finally:
        assert daemon.stop() == 0


def _touch(path: Path, age_s: float = 0.0) -> Path:
    path.write_text("partial")
    if age_s:
        past = time.time() - age_s
        os.utime(path, (past, past))
    return path


def test_temp_files_left_by_a_kill_are_swept(vm: Vm) -> None:
    vm.desired.mkdir(parents=True)
    (vm.state / "inbox").mkdir()
    swept = [
        _touch(
            vm.state / "inbox" / ".123-abcdef012345.json.k9j8h7g6.tmp", age_s=120
        ),  # a killed accept --wait
        _touch(vm.manifests / ".manifest.json.a1b2c3d4.tmp"),
        _touch(vm.manifests / ".manifest_2.0.0.15.json.zz_9y8x7.tmp"),
        _touch(vm.root / ".config.env.q1w2e3r4.tmp"),
        _touch(vm.unified.parent / ".unified_config.yaml.abcdefgh.tmp"),
        _touch(vm.desired / ".beta_gate.json.00000000.tmp"),
        _touch(vm.state / ".status.json.oldoldol.tmp", age_s=120),
    ]
    kept = [
        _touch(vm.manifests / ".notes.txt.a1b2c3d4.tmp"),  # not a name the reconciler owns
        _touch(vm.root / ".bashrc.a1b2c3d4.tmp"),
        _touch(vm.state / ".status.json.newnewne.tmp"),  # maybe a live writer's: too young
        _touch(vm.state / "inbox" / ".124-abcdef012345.json.newnewne.tmp"),  # an accept writing now
        _touch(vm.manifests / "manifest.json.tmp"),  # not the atomic writer's pattern
    ]
    proc = run_cli(vm, "once")
    assert proc.returncode == 0, proc.stderr
    assert [p for p in swept if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    events: list[dict[str, Any]] = [
        json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"swept"' in line
    ]
    assert len(events) == 1 and sorted(events[0]["files"]) == sorted(str(p) for p in swept)
