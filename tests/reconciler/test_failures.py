"""Failure paths with the real process: invalid desired files, transient I/O, missed events, webhooks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from schemas import dump_model

from .conftest import Receiver
from .helpers import Daemon, Vm, bundle, make_manifest, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)
THE_BUNDLE = bundle()
GOOD_STABLE = dump_model(make_manifest("2.0.0.30"))


def _runtime(vm: Vm) -> dict[str, bytes]:
    files = [p for p in (vm.root / "server").rglob("*") if p.is_file()] + [vm.env]
    return {str(p): p.read_bytes() for p in files}


def _traversal() -> bytes:
    document = json.loads(GOOD_STABLE)
    document["version"] = "../../x"
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("manifest.json", b"{broken", "invalid_stable"),
        ("manifest.json", GOOD_STABLE[: len(GOOD_STABLE) // 2], "invalid_stable"),  # truncated
        ("manifest.json", _traversal(), "invalid_stable"),
        ("manifest.json", dump_model(make_manifest("2.0.0.30", "beta")), "invalid_stable"),
        ("manifest_beta.json", b'{"version": "2.0.0.31"}', "invalid_beta"),
        ("beta_gate.json", b'{"enabled": "maybe"}', "invalid_gate"),
    ],
    ids=["broken-json", "truncated", "path-version", "wrong-channel", "schema", "gate-type"],
)
def test_invalid_desired_file_raises_one_alert_and_writes_nothing(
    vm: Vm, name: str, data: bytes, kind: str
) -> None:
    assert run_cli(vm, "accept", "--wait", "20", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
    before = _runtime(vm)
    (vm.desired / name).write_bytes(data)  # straight into the desired directory, past accept
    proc = run_cli(vm, "once")
    assert proc.returncode == 2
    alerts = [json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"alert"' in line]
    assert [(a["resource"], a["kind"], a["status"]) for a in alerts] == [("desired", kind, "firing")]
    assert _runtime(vm) == before
    assert run_cli(vm, "once").stderr.count(b'"event":"alert"') == 0  # still one alert, not one per pass


def test_directory_in_a_files_place_is_a_resource_error_then_recovers(vm: Vm) -> None:
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        assert (
            run_cli(vm, "accept", "--wait", "20", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
        )
        before = {k: v for k, v in _runtime(vm).items() if not k.endswith("/manifest.json")}
        stable = vm.manifests / "manifest.json"
        stable.unlink()
        stable.mkdir()  # refused (not a regular file): an error of the stable resource, named

        def errors() -> list[dict[str, str]]:
            return [a for a in daemon.alerts() if a["resource"] == "stable" and a["kind"] == "error"]

        wait_for(lambda: errors(), 20, "a stable error alert")
        assert errors()[0]["found"] == f"{stable} is a directory; refused"
        assert errors()[0]["done"] == "nothing written"

        def failed() -> list[dict[str, float]]:
            status = vm.status() or {"passes": []}
            return [p for p in status["passes"] if p["result"] == "error"]

        wait_for(failed, 20, "an error pass in status.json")  # written just after the alert line
        assert {k: v for k, v in _runtime(vm).items() if not k.endswith("/manifest.json")} == before
        assert not any(a["kind"] == "drift" and a["status"] == "resolved" for a in daemon.alerts())
        stable.rmdir()
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, "healed after the obstruction went")
        wait_for(lambda: [a for a in errors() if a["status"] == "resolved"], 20, "error resolved")
    finally:
        assert daemon.stop() == 0


def test_periodic_resync_catches_what_no_watch_sees(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, legacy=False, extra="resync_seconds: 1\nresync_jitter: 0.5\n")
    vm.config.write_text(vm.config.read_text().replace("resync_seconds: 300\n", ""))
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        assert (
            run_cli(vm, "accept", "--wait", "20", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
        )
        assert not vm.legacy.exists()  # managed only where it exists: never created
        # The legacy directory appears after start, so no watch covers it: only a resync can.
        vm.legacy.parent.mkdir(parents=True)
        vm.legacy.write_text("{}\n")
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, "legacy copy healed by a resync")
    finally:
        assert daemon.stop() == 0


def test_observe_mode_alerts_each_hand_edit_and_writes_nothing(tmp_path: Path) -> None:
    vm = make_vm(tmp_path)
    assert run_cli(vm, "accept", "--wait", "20", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
    observe = vm.root / "observe.yaml"
    observe.write_text(vm.config.read_text().replace("mode: enforce", "mode: observe"))
    daemon = Daemon(Vm(vm.root, observe))
    try:
        daemon.wait_ready()
        good = {p: p.read_bytes() for p in (vm.manifests / "manifest.json", vm.unified, vm.env)}
        edits = {
            "stable": (vm.manifests / "manifest.json", dump_model(make_manifest("2.0.0.9"))),
            "config_version": (vm.unified, good[vm.unified].replace(b'"2.0.0.15"', b'"1.9.0.0"', 1)),
            "gate": (vm.env, good[vm.env].replace(b"BETA_ENABLED=true", b"BETA_ENABLED=false")),
        }
        for resource, (path, content) in edits.items():
            path.write_bytes(content)

            def fired(r: str = resource) -> list[dict[str, str]]:
                return [a for a in daemon.alerts() if a["resource"] == r and a["kind"] == "drift"]

            wait_for(fired, 20, f"{resource} drift alert")
            assert fired()[0]["status"] == "firing" and "left alone" in fired()[0]["done"]
            assert path.read_bytes() == content
        for resource, (path, _content) in edits.items():
            path.write_bytes(good[path])  # a person puts it back
            wait_for(
                lambda r=resource: any(
                    a["resource"] == r and a["status"] == "resolved" for a in daemon.alerts()
                ),
                20,
                f"{resource} resolved",
            )
    finally:
        assert daemon.stop() == 0


def test_webhook_retries_until_delivered_in_slack_format(tmp_path: Path, flapping_receiver: Receiver) -> None:
    vm = make_vm(
        tmp_path,
        mode="observe",
        extra=f"  webhooks:\n    - {{url: '{flapping_receiver.url}', format: slack}}\n",
    )
    assert run_cli(vm, "accept", stdin=THE_BUNDLE.model_dump_json().encode()).returncode == 0
    shutil.copy(vm.env, vm.root / "env.before")
    proc = run_cli(vm, "once")  # a pass outside the daemon delivers its alerts too
    assert proc.returncode == 1
    bodies = [json.loads(body) for _headers, body in flapping_receiver.requests]
    assert len(bodies) >= 3, bodies  # two 503 answers, then delivered
    assert bodies[0] == bodies[1] == bodies[2] and set(bodies[0]) == {"text"}
    texts = {b["text"] for b in bodies}
    assert any("drift on gate" in t and "expected UPDATE_BETA_ENABLED=true" in t for t in texts)
    assert (
        os.stat(vm.env).st_mode & 0o777 == 0o600
        and vm.env.read_bytes() == (vm.root / "env.before").read_bytes()
    )
