"""The real daemon on a temporary VM tree: healing, alerts, signals, webhooks, systemd notify."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from schemas import dump_model
from tests.ports import free_port
from tests.webhookkit import Receiver

from .helpers import Daemon, Vm, bundle, make_manifest, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)


def _accept(vm: Vm, wait: str = "20") -> None:
    proc = run_cli(vm, "accept", "--wait", wait, stdin=THE_BUNDLE.model_dump_json().encode())
    assert proc.returncode == 0, proc.stderr


THE_BUNDLE = bundle(stable="2.0.0.15", beta="2.0.0.16", gate=True)


def _gate_sync(vm: Vm) -> str | None:
    status = vm.status()
    return None if status is None else str(status["resources"]["gate"]["sync"])


def _drift_alerts(daemon: Daemon, resource: str, status: str = "firing") -> list[dict[str, str]]:
    return [
        a
        for a in daemon.alerts()
        if a["resource"] == resource and a["kind"] == "drift" and a["status"] == status
    ]


def _hand_edits(vm: Vm) -> list[tuple[str, Path, bytes]]:
    stable = vm.manifests / "manifest.json"
    yaml = vm.unified.read_text().replace('default_version: "2.0.0.15"', 'default_version: "1.9.0.0"')
    env = vm.env.read_text().replace("UPDATE_BETA_ENABLED=true", "UPDATE_BETA_ENABLED=false")
    return [
        ("stable", stable, dump_model(make_manifest("2.0.0.9"))),
        ("config_version", vm.unified, yaml.encode()),
        ("gate", vm.env, env.encode()),
    ]


def test_hand_edits_are_healed_and_alerted_once(tmp_path: Path, receiver: Receiver) -> None:
    vm = make_vm(
        tmp_path,
        extra=f"  webhooks:\n    - {{url: '{receiver.url}', format: json, secret_env: HOOK_SECRET}}\n",
    )
    daemon = Daemon(vm, env={"HOOK_SECRET": "s3cret-value"})
    try:
        daemon.wait_ready()
        _accept(vm)
        for resource, path, content in _hand_edits(vm):
            path.write_bytes(content)  # a hand edit in place, as an operator's editor would
            wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, f"{resource} healed")
            wait_for(
                lambda r=resource: _drift_alerts(daemon, r, "resolved"), 20, f"{resource} resolved alert"
            )
            path.write_bytes(content)  # the same drift again, inside the rate window
            wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, f"{resource} healed again")
            wait_for(
                lambda r=resource: len(_drift_alerts(daemon, r, "suppressed")) == 1, 20, "suppressed repeat"
            )
            assert len(_drift_alerts(daemon, resource)) == 1
        assert stat.S_IMODE(vm.env.stat().st_mode) == 0o600
        fired = _drift_alerts(daemon, "gate")[0]
        assert (
            fired["expected"] == "UPDATE_BETA_ENABLED=true" and fired["found"] == "UPDATE_BETA_ENABLED=false"
        )
        assert "healed" in fired["done"]

        def drift_posts() -> list[tuple[dict[str, str], bytes]]:
            # An in-place edit caught between truncate and write may add an "error" alert pair.
            return [r for r in receiver.requests if json.loads(r[1])["kind"] == "drift"]

        wait_for(lambda: len(drift_posts()) == 6, 20, "3 alerts + 3 resolved delivered")
        for headers, body in receiver.requests:
            want = "sha256=" + hmac.new(b"s3cret-value", body, hashlib.sha256).hexdigest()
            assert headers["x-nexy-signature"] == want
            assert json.loads(body)["event"] == "alert"
        assert "s3cret-value" not in daemon.log.read_text()
        # Nine alerts later the status document still fits Azure Run Command's 4 KB answer.
        status = run_cli(vm, "status", "--json")
        assert status.returncode == 0 and len(status.stdout) < 3072
        assert len(json.loads(status.stdout)["alerts"]) >= 3
    finally:
        assert daemon.stop() == 0


def test_observe_mode_alerts_and_leaves_alone(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, mode="observe")
    _accept(vm, wait="0")
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        before = vm.env.read_bytes()
        wait_for(lambda: _drift_alerts(daemon, "gate"), 20, "gate drift alert")
        assert vm.env.read_bytes() == before
        assert not (vm.manifests / "manifest.json").exists()
        assert "left alone" in _drift_alerts(daemon, "gate")[0]["done"]
        # A person fixes the gate by hand: the drift is resolved, nothing else is written.
        vm.env.write_bytes(before.replace(b"UPDATE_BETA_ENABLED=false", b"UPDATE_BETA_ENABLED=true"))
        wait_for(lambda: _drift_alerts(daemon, "gate", "resolved"), 20, "resolved alert")
        # The resolved alert is logged during the pass, before that pass writes status.json:
        # wait for the state checked, not for the log line (issue 11).
        wait_for(lambda: _gate_sync(vm) == "in_sync", 20, "status.json showing the gate in sync")
        status = vm.status()
        assert status is not None
        assert status["resources"]["stable"]["sync"] == "drifted"
    finally:
        assert daemon.stop() == 0


def test_invalid_desired_written_directly_changes_nothing(vm: Vm) -> None:
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        _accept(vm)
        server_before = {p: p.read_bytes() for p in (vm.root / "server").rglob("*") if p.is_file()}
        env_before = vm.env.read_bytes()
        good = json.loads((vm.desired / "bundle.json").read_bytes())
        cases = [
            json.dumps({**good, "beta": {"version": "2.0.0.40"}}).encode(),
            b"{not json",
            json.dumps({**good, "gate": {"enabled": "maybe"}}).encode(),
            json.dumps({"gate": good["gate"]}).encode(),  # omits stable and beta: not "remove them"
        ]
        for data in cases:
            (vm.desired / "bundle.json").write_bytes(data)
            time.sleep(0.2)
        wait_for(lambda: [a for a in daemon.alerts() if a["resource"] == "desired"], 20, "alert")
        time.sleep(0.3)  # let any (wrong) write land before the comparison below
        kinds = [a["kind"] for a in daemon.alerts() if a["resource"] == "desired" and a["status"] == "firing"]
        assert kinds == ["invalid_bundle"]
        assert {p: p.read_bytes() for p in (vm.root / "server").rglob("*") if p.is_file()} == server_before
        assert vm.env.read_bytes() == env_before
        status = vm.status()
        assert status is not None and {r["sync"] for r in status["resources"].values()} == {"error"}
    finally:
        assert daemon.stop() == 0


def test_sighup_reconciles_now_and_sigterm_stops(vm: Vm) -> None:
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        before = vm.status()["passes"]  # type: ignore[index]
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: vm.status()["passes"] != before, 20, "a pass after SIGHUP")  # type: ignore[index]
    finally:
        started = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - started < 15


def test_down_or_slow_webhook_does_not_delay_convergence(tmp_path: Path, slow_receiver: Receiver) -> None:
    dead_port = free_port()  # nothing listens there, and no server of this run will be given it
    hooks = (
        f"  webhooks:\n    - {{url: 'http://127.0.0.1:{dead_port}/down', format: slack}}\n"
        f"    - {{url: '{slow_receiver.url}', format: json, timeout_s: 30}}\n"
    )
    vm = make_vm(tmp_path, extra=hooks)
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        _accept(vm)
        for version in ("2.0.0.9", "2.0.0.8", "2.0.0.7"):
            (vm.manifests / "manifest.json").write_bytes(dump_model(make_manifest(version)))
            # Each heal must not wait for the slow (20 s) or dead webhook.
            wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 5, "heal while webhooks hang")
        assert len(slow_receiver.requests) == 0
    finally:
        assert daemon.stop() == 0


def test_ready_and_watchdog_on_notify_socket(vm: Vm, unix_socket_dir: Path) -> None:
    path = unix_socket_dir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(20)
        daemon = Daemon(vm, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "300000"})
        messages: list[str] = []
        try:
            while sum("WATCHDOG=1" in m for m in messages) < 3:
                messages.append(sock.recv(4096).decode())
            assert any("READY=1" in m for m in messages)
            ready = next(i for i, m in enumerate(messages) if "READY=1" in m)
            assert "STATUS=" in messages[ready]
            assert ready < next(i for i, m in enumerate(messages) if "WATCHDOG=1" in m)
            assert os.path.exists(vm.state / "status.json")
        finally:
            assert daemon.stop() == 0
        sock.settimeout(5)
        tail = [sock.recv(4096).decode() for _ in range(1)]
        while "STOPPING=1" not in tail[-1]:
            tail.append(sock.recv(4096).decode())


def test_status_json_with_daemon_running(vm: Vm) -> None:
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        _accept(vm)
        proc = run_cli(vm, "status", "--json")
        lines = proc.stdout.decode().splitlines()
        assert proc.returncode == 0 and len(lines) == 1 and len(lines[0]) < 3072
        document = json.loads(lines[0])
        assert document["pid"] == daemon.proc.pid
        assert document["desired_digest"] == THE_BUNDLE.digest()
        assert document["stable_version"] == "2.0.0.15" and document["gate"] is True
        assert all(r["sync"] in ("in_sync", "healed") for r in document["resources"].values())
    finally:
        assert daemon.stop() == 0


def test_actions_run_once_per_change_and_failures_alert(tmp_path: Path) -> None:
    marker = tmp_path / "restarts.txt"
    script = f"open({str(marker)!r}, 'a').write('restart\\n')"
    actions = f"actions:\n  gate: [{sys.executable!r}, -c, {script!r}]\n  stable: [{sys.executable!r}, -c, 'raise SystemExit(3)']\n"
    vm = make_vm(tmp_path, extra=actions)
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        _accept(vm)
        wait_for(lambda: marker.exists() and marker.read_text() == "restart\n", 20, "gate action ran once")
        failed = [a for a in daemon.alerts() if a["kind"] == "action_failed"]
        assert len(failed) == 1 and failed[0]["resource"] == "stable" and "exited 3" in failed[0]["found"]
        vm.env.write_text(vm.env.read_text().replace("UPDATE_BETA_ENABLED=true", "UPDATE_BETA_ENABLED=false"))
        wait_for(lambda: marker.read_text() == "restart\nrestart\n", 20, "gate action after the heal")
        (vm.manifests / "manifest_beta.json").write_text("{}")
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, "beta healed")
        assert marker.read_text() == "restart\nrestart\n"
    finally:
        assert daemon.stop() == 0


def test_the_daemon_loads_no_http_client_or_metrics_library_it_was_not_configured_for() -> None:
    """``python -m reconciler run`` imports ``reconciler.cli``: httpx (probes, webhooks, the one-shot
    commands' adoption read) and prometheus_client (metrics) must wait until they are used, as they
    are most of the daemon's memory (docs/performance.md, peak RSS)."""
    probe = "import sys, reconciler.cli; print(' '.join(sorted(m for m in ('httpx', 'prometheus_client') if m in sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, timeout=60)
    assert loaded.stdout.decode().split() == []
