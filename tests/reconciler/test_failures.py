"""Failure paths with the real process: invalid desired files, transient I/O, missed events, webhooks."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from reconciler.desired import bundle_bytes
from reconciler.yamledit import read_update_version
from schemas import Bundle, dump_model
from tests.webhookkit import Receiver

from .helpers import Daemon, Vm, apply, bundle, make_manifest, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)
THE_BUNDLE = bundle()
GOOD_STABLE = dump_model(make_manifest("2.0.0.30"))


def _accept_via_daemon(vm: Vm, b: Bundle) -> None:
    proc = run_cli(vm, "accept", "--wait", "20", stdin=b.model_dump_json().encode())
    assert proc.returncode == 0, proc.stderr


def _runtime(vm: Vm) -> dict[str, bytes]:
    files = [p for p in (vm.root / "server").rglob("*") if p.is_file()] + [vm.env]
    return {str(p): p.read_bytes() for p in files}


def _bundle_with(field: str, value: object) -> bytes:
    document = json.loads(bundle_bytes(THE_BUNDLE))
    document[field] = value
    return json.dumps(document).encode()


def _without(field: str) -> bytes:
    document = json.loads(bundle_bytes(THE_BUNDLE))
    del document[field]
    return json.dumps(document).encode()


def _traversal() -> bytes:
    document = json.loads(GOOD_STABLE)
    document["version"] = "../../x"
    return _bundle_with("stable", document)


@pytest.mark.parametrize(
    "data",
    [
        b"{broken",
        bundle_bytes(THE_BUNDLE)[: len(bundle_bytes(THE_BUNDLE)) // 2],
        _traversal(),
        _bundle_with("stable", json.loads(dump_model(make_manifest("2.0.0.30", "beta")))),
        _bundle_with("beta", {"version": "2.0.0.31"}),
        _bundle_with("gate", {"enabled": "maybe"}),
        _without("beta"),
        b"[" * 100_000,
    ],
    ids=[
        "broken-json",
        "truncated",
        "path-version",
        "wrong-channel",
        "schema",
        "gate-type",
        "omitted",
        "deep",
    ],
)
def test_invalid_bundle_raises_one_alert_and_writes_nothing(vm: Vm, data: bytes) -> None:
    assert apply(vm, THE_BUNDLE) == 0
    before = _runtime(vm)
    (vm.desired / "bundle.json").write_bytes(data)  # straight into the desired directory, past accept
    proc = run_cli(vm, "once")
    assert proc.returncode == 2, proc.stderr
    alerts = [json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"alert"' in line]
    assert [(a["resource"], a["kind"], a["status"]) for a in alerts] == [
        ("desired", "invalid_bundle", "firing")
    ]
    assert _runtime(vm) == before
    assert run_cli(vm, "once").stderr.count(b'"event":"alert"') == 0  # still one alert, not one per pass


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("manifest.json", b"{broken", "invalid_stable"),
        ("manifest.json", GOOD_STABLE[: len(GOOD_STABLE) // 2], "invalid_stable"),  # truncated
        ("manifest.json", dump_model(make_manifest("2.0.0.30", "beta")), "invalid_stable"),
        ("manifest_beta.json", b'{"version": "2.0.0.31"}', "invalid_beta"),
        ("beta_gate.json", b'{"enabled": "maybe"}', "invalid_gate"),
    ],
    ids=["broken-json", "truncated", "wrong-channel", "schema", "gate-type"],
)
def test_invalid_old_layout_file_is_one_alert_and_is_not_migrated(
    vm: Vm, name: str, data: bytes, kind: str
) -> None:
    """An old-layout desired directory with one bad file: the others are enforced, nothing migrates."""
    b = THE_BUNDLE
    vm.desired.mkdir(parents=True)
    for filename, model in (
        ("manifest.json", b.stable),
        ("manifest_beta.json", b.beta),
        ("beta_gate.json", b.gate),
    ):
        (vm.desired / filename).write_bytes(dump_model(model))  # type: ignore[arg-type]
    (vm.desired / name).write_bytes(data)
    proc = run_cli(vm, "once")
    assert proc.returncode == 2
    alerts = [json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"alert"' in line]
    assert [(a["resource"], a["kind"]) for a in alerts if a["resource"] == "desired"] == [("desired", kind)]
    assert not (vm.desired / "bundle.json").exists()
    assert (vm.desired / name).read_bytes() == data


def test_a_directory_in_a_files_place_is_that_resources_error_and_the_rest_applies(vm: Vm) -> None:
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        _accept_via_daemon(vm, THE_BUNDLE)
        stable = vm.manifests / "manifest.json"
        with daemon.paused():  # else its heal of the removed file can come before the mkdir
            stable.unlink()
            stable.mkdir()  # reading and replacing it now fail on every attempt
        newer = bundle(stable="2.0.0.19", beta="2.0.0.20", gate=False)
        proc = run_cli(vm, "accept", "--wait", "5", stdin=newer.model_dump_json().encode())
        assert proc.returncode == 1 and json.loads(proc.stdout.split(b"RESULT ")[1])["converged"] is False

        def alerts(resource: str, kind: str) -> list[dict[str, str]]:
            return [a for a in daemon.alerts() if (a["resource"], a["kind"]) == (resource, kind)]

        wait_for(lambda: alerts("stable", "error"), 20, "the stable resource's error alert")
        assert f"{stable} is a directory; refused" in alerts("stable", "error")[0]["found"]
        # The config version waits for its pair: the feed never reads a version whose manifest is
        # missing. Beta and the gate are not held hostage by the stable directory.
        wait_for(lambda: alerts("config_version", "write_failed"), 20, "config version held back")
        assert "held back: stable" in alerts("config_version", "write_failed")[0]["found"]
        assert read_update_version(vm.unified.read_bytes()) == ("2.0.0.15", "2.0.0.15")
        assert not (vm.manifests / "manifest_2.0.0.19.json").exists()
        wait_for(
            lambda: (vm.manifests / "manifest_beta.json").read_bytes() == dump_model(newer.beta), 20, "beta"
        )  # type: ignore[arg-type]
        assert "\nUPDATE_BETA_ENABLED=false\n" in vm.env.read_text()
        status = vm.status()
        assert status is not None and status["resources"]["stable"]["sync"] == "error"
        assert status["resources"]["config_version"]["sync"] == "error"
        assert daemon.proc.poll() is None
        stable.rmdir()
        wait_for(lambda: vm.runtime_matches(newer), 30, "healed after the obstruction went")
        wait_for(lambda: [a for a in alerts("stable", "error") if a["status"] == "resolved"], 20, "resolved")
    finally:
        assert daemon.stop() == 0


def test_a_failing_pass_says_so_per_resource_and_keeps_the_digest(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, extra="lock_timeout_s: 0.2\n")
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        _accept_via_daemon(vm, THE_BUNDLE)
        fd = os.open(vm.state / "lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another writer holds the VM lock past the pass's patience
            daemon.proc.send_signal(signal.SIGHUP)

            def failing() -> bool:
                status = vm.status() or {"passes": []}
                return bool(status["passes"]) and status["passes"][-1]["result"] == "error"

            wait_for(failing, 20, "a failed pass in status.json")
            status = vm.status()
            assert status is not None
            assert {r["sync"] for r in status["resources"].values()} == {"error"}
            assert all("pass failed: LockTimeout" in r["detail"] for r in status["resources"].values())
            assert status["desired_digest"] == THE_BUNDLE.digest()
            assert [a["found"][:11] for a in daemon.alerts() if a["resource"] == "pass"] == ["LockTimeout"]
        finally:
            os.close(fd)
        wait_for(
            lambda: (vm.status() or {}).get("passes", [{}])[-1].get("result") == "in_sync", 30, "recovered"
        )
        assert [a["status"] for a in daemon.alerts() if a["resource"] == "pass"] == ["firing", "resolved"]
    finally:
        assert daemon.stop() == 0


def test_periodic_resync_catches_what_no_watch_sees(tmp_path: Path) -> None:
    vm = make_vm(tmp_path, extra="resync_seconds: 1\nresync_jitter: 0.5\n")
    vm.config.write_text(vm.config.read_text().replace("resync_seconds: 300\n", ""))
    assert apply(vm, THE_BUNDLE) == 0
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        # An edit through a hard link in another directory: file events name the directory the
        # file was opened through, so no watch sees it, and only a resync can.
        outside = vm.root / "outside"
        outside.mkdir()
        os.link(vm.env, outside / "env-link")
        with (outside / "env-link").open("r+b") as handle:
            data = handle.read()
            handle.seek(0)
            handle.write(data.replace(b"UPDATE_BETA_ENABLED=true", b"UPDATE_BETA_ENABLED=fals"))
        # A second hard link makes the reconciler refuse the file (schemas.fileio): drop it again.
        (outside / "env-link").unlink()
        assert not vm.runtime_matches(THE_BUNDLE)
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, "gate healed by a resync")
    finally:
        assert daemon.stop() == 0


def test_observe_mode_alerts_each_hand_edit_and_writes_nothing(tmp_path: Path) -> None:
    vm = make_vm(tmp_path)
    assert apply(vm, THE_BUNDLE) == 0
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
