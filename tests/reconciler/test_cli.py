"""The CLI as the workstation drives it: accept, diff, status, once, and bad input/config."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from schemas import dump_model

from .helpers import FIXTURES, Daemon, Vm, apply, bundle, run_cli

pytestmark = pytest.mark.timeout(120)


def _result(stdout: bytes) -> dict[str, object]:
    last = stdout.decode().strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    document: dict[str, object] = json.loads(last[len("RESULT ") :])
    return document


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".log"
    }


def test_accept_wait_hands_the_bundle_to_the_daemon_and_second_accept_is_a_noop(vm: Vm) -> None:
    b = bundle()
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        first = run_cli(vm, "accept", "--wait", "20", stdin=b.model_dump_json().encode())
        assert first.returncode == 0, first.stderr
        result = _result(first.stdout)
        assert result["ok"] is True and result["converged"] is True and result["waited_for"] == "daemon"
        assert result["desired_digest"] == b.digest()
        assert sorted(result["changed"]) == ["beta_gate.json", "manifest.json", "manifest_beta.json"]  # type: ignore[arg-type]
        assert vm.runtime_matches(b)
        assert stat.S_IMODE(vm.env.stat().st_mode) == 0o600
        # The daemon committed it (its log says so) and the inbox is empty again.
        assert '"event":"inbox_served"' in daemon.log.read_text()
        assert list((vm.state / "inbox").iterdir()) == []
        before = _snapshot(vm.root / "server") | {"config.env": vm.env.read_bytes()}
        second = run_cli(
            vm, "accept", "--base64", base64.b64encode(b.model_dump_json().encode()).decode(), "--wait", "20"
        )
        assert second.returncode == 0, second.stderr
        assert _result(second.stdout)["changed"] == []
        assert _snapshot(vm.root / "server") | {"config.env": vm.env.read_bytes()} == before
    finally:
        assert daemon.stop() == 0


def test_accept_wait_without_a_daemon_commits_and_says_so(vm: Vm) -> None:
    b = bundle()
    proc = run_cli(vm, "accept", "--wait", "5", stdin=b.model_dump_json().encode())
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == (
        "nexy-reconciler accept: no reconciler daemon is running: the bundle is committed and applies when it starts"
    )
    result = _result(proc.stdout)
    assert result["ok"] is True and result["converged"] is False and result["daemon"] == "not running"
    assert result["resources"]["stable"] == "drifted"  # type: ignore[index]
    # No pass ran here: the runtime is untouched until a daemon (or an operator's once) applies it.
    assert not (vm.manifests / "manifest.json").exists()
    assert run_cli(vm, "once").returncode == 0 and vm.runtime_matches(b)


def test_long_release_notes_travel_on_stdin(vm: Vm) -> None:
    b = bundle()
    notes = {"release_notes": "x" * 65_000}  # the schema's cap; two of them pass 128 KiB in base64
    long_notes = b.model_copy(
        update={"stable": b.stable.model_copy(update=notes), "beta": b.beta.model_copy(update=notes)}  # type: ignore[union-attr]
    )
    assert len(base64.b64encode(long_notes.model_dump_json().encode())) > 128 << 10
    proc = run_cli(vm, "accept", stdin=long_notes.model_dump_json().encode())
    assert proc.returncode == 0, proc.stderr
    assert _result(proc.stdout)["desired_digest"] == long_notes.digest()


def test_config_env_and_yaml_keep_every_other_byte(vm: Vm) -> None:
    b = bundle(stable="2.0.0.20", gate=True)
    if os.geteuid() == 0:  # as on the VM: root edits azureuser's file and must give it back
        os.chown(vm.env, 1234, 1234)
    assert apply(vm, b) == 0
    if os.geteuid() == 0:
        assert (vm.env.stat().st_uid, vm.env.stat().st_gid) == (1234, 1234)
    assert stat.S_IMODE(vm.env.stat().st_mode) == 0o600
    env_old, env_new = (
        (FIXTURES / "config.env").read_bytes().splitlines(True),
        vm.env.read_bytes().splitlines(True),
    )
    assert [a for a, b_ in zip(env_old, env_new, strict=True) if a != b_] == [b"UPDATE_BETA_ENABLED=false\n"]
    yaml_old, yaml_new = (
        (FIXTURES / "unified_config.yaml").read_text().splitlines(),
        vm.unified.read_text().splitlines(),
    )
    assert [a for a, b_ in zip(yaml_old, yaml_new, strict=True) if a != b_] == [
        '  default_version: "2.0.0.14"',
        '  default_build: "2.0.0.14"',
    ]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (b'{"stable": {', "not valid JSON"),
        (b'{"stable": {"version": "2.0.0.15"}, "beta": null, "gate": null}', "stable"),
        (
            b'{"stable": null, "beta": null, "gate": {"enabled": true, "updated_at": "2025-01-01T00:00:00Z", "extra": 1}}',
            "gate.extra",
        ),
        (b"", "empty"),
        (b"{}", "omits stable, beta, gate"),
        (b'{"gate": {"enabled": true, "updated_at": "2025-01-01T00:00:00Z"}}', "omits stable, beta:"),
        (b"[" * 100_000, "nested deeper than 64 levels"),
    ],
)
def test_accept_refuses_invalid_input_and_writes_nothing(vm: Vm, payload: bytes, needle: str) -> None:
    before = _snapshot(vm.root)
    proc = run_cli(vm, "accept", "--wait", "5", stdin=payload)
    assert proc.returncode == 2
    assert len(proc.stderr.decode().strip().splitlines()) == 1 and needle in proc.stderr.decode()
    assert _result(proc.stdout) == {
        "ok": False,
        "changed": [],
        "desired_digest": "",
        "error": proc.stderr.decode().split("accept: ", 1)[1].strip(),
        "waited_for": None,
        "daemon": None,
        "converged": None,
        "resources": {},
    }
    assert _snapshot(vm.root) == before


def test_accept_refuses_path_like_version(vm: Vm) -> None:
    document = json.loads(bundle().model_dump_json())
    document["stable"]["version"] = "../../x"
    proc = run_cli(vm, "accept", stdin=json.dumps(document).encode())
    assert proc.returncode == 2 and "X.Y.Z.W" in proc.stderr.decode()
    assert not vm.desired.exists() or not any(vm.desired.iterdir())


def test_accept_refuses_bad_base64(vm: Vm) -> None:
    proc = run_cli(vm, "accept", "--base64", "not*base64")
    assert proc.returncode == 2 and _result(proc.stdout)["ok"] is False


def test_null_field_unmanages_without_deleting_runtime(vm: Vm) -> None:
    b = bundle()
    assert apply(vm, b) == 0
    partial = bundle(beta=None).model_copy(update={"stable": b.stable, "gate": b.gate})
    proc = run_cli(vm, "accept", stdin=partial.model_dump_json().encode())
    assert _result(proc.stdout)["changed"] == ["manifest_beta.json"]
    assert json.loads((vm.desired / "bundle.json").read_bytes())["beta"] is None
    assert run_cli(vm, "once").returncode == 0
    assert (vm.manifests / "manifest_beta.json").read_bytes() == dump_model(b.beta)  # type: ignore[arg-type]
    status = json.loads(run_cli(vm, "status", "--json").stdout)
    assert status["resources"]["beta"]["sync"] == "absent"


def test_diff_status_once_exit_codes(vm: Vm) -> None:
    b = bundle()
    vm.desired.mkdir(parents=True)
    for name, model in (
        ("manifest.json", b.stable),
        ("manifest_beta.json", b.beta),
        ("beta_gate.json", b.gate),
    ):
        (vm.desired / name).write_bytes(dump_model(model))  # type: ignore[arg-type]
    diff = run_cli(vm, "diff", "--json")
    assert diff.returncode == 1
    lines = diff.stdout.decode().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["resources"]["stable"]["state"] == "drifted"
    human = run_cli(vm, "diff")
    assert human.returncode == 1 and "would write" in human.stdout.decode()
    rows = [line.split() for line in human.stdout.decode().splitlines() if line[:1].strip()]
    table = {row[0]: row[1] for row in rows if len(row) > 1}  # the last line is the verdict alone
    assert table["stable"] == "drifted" and "drift" not in table.values()  # the documents' words
    status = run_cli(vm, "status", "--json")
    assert status.returncode == 0 and len(status.stdout) < 3072
    document = json.loads(status.stdout)
    assert document["pid"] == 0 and document["resources"]["gate"]["sync"] == "drifted"
    assert document["env_keys"] == {"GEMINI_API_KEY": True, "OPENAI_API_KEY": False}
    assert b"placeholder-not-a-real-key" not in status.stdout
    assert run_cli(vm, "once").returncode == 0
    assert vm.runtime_matches(b)
    # That once found the old layout and migrated it: one bundle, the per-resource files gone.
    assert sorted(p.name for p in vm.desired.iterdir()) == ["bundle.json"]
    assert json.loads(run_cli(vm, "diff", "--json").stdout)["desired_digest"] == b.digest()
    assert run_cli(vm, "diff").returncode == 0
    table = run_cli(vm, "status").stdout.decode()
    assert "GEMINI_API_KEY=set" in table and "placeholder" not in table


def test_once_in_observe_mode_reports_drift_and_writes_nothing(tmp_path: Path) -> None:
    from .helpers import make_vm

    vm = make_vm(tmp_path, mode="observe")
    run_cli(vm, "accept", stdin=bundle().model_dump_json().encode())
    before = _snapshot(vm.root / "server")
    proc = run_cli(vm, "once")
    assert proc.returncode == 1
    assert _snapshot(vm.root / "server") == before
    assert '"kind":"drift"' in proc.stderr.decode() and "left alone (observe mode)" in proc.stderr.decode()


def test_invalid_desired_file_is_an_error_and_touches_nothing(vm: Vm) -> None:
    b = bundle()
    assert apply(vm, b) == 0
    before = _snapshot(vm.root / "server")
    good = (vm.desired / "bundle.json").read_bytes()
    (vm.desired / "bundle.json").write_bytes(good[: len(good) // 2])
    proc = run_cli(vm, "once")
    assert proc.returncode == 2
    alerts = [json.loads(line) for line in proc.stderr.decode().splitlines() if '"event":"alert"' in line]
    assert [(a["resource"], a["kind"]) for a in alerts] == [("desired", "invalid_bundle")]
    assert _snapshot(vm.root / "server") == before
    assert run_cli(vm, "diff").returncode == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("mode: enforce\nlayout: {root: .}\ndesired_dir: d\nstate_dir: s\nbogus: 1\n", "bogus"),
        ("mode: sometimes\nlayout: {root: .}\ndesired_dir: d\nstate_dir: s\n", "mode"),
        ("layout: {root: .}\ndesired_dir: d\n", "state_dir"),
        (
            "layout: {root: .}\ndesired_dir: d\nstate_dir: s\nalerts: {webhooks: [{url: x}]}\n",
            "alerts.webhooks.0.url",
        ),
        ("mode: [\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_line_naming_the_field(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    proc = run_cli(Vm(tmp_path, config), "status")
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], lines


def test_example_config_loads() -> None:
    from reconciler.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "systemd" / "reconciler.example.yaml")
    # Unprivileged: the restart goes through nexy-gate-restart.path, which watches this file.
    assert config.actions["gate"] == ("touch", "/var/lib/nexy-reconciler/restart-staging.trigger")
    assert os.fspath(config.layout.root) == "/home/azureuser/voice-assistant"


def test_diff_and_status_answer_one_result_line_with_the_json_document(vm: Vm) -> None:
    from schemas import PlanDocument, Status

    run_cli(vm, "accept", stdin=bundle().model_dump_json().encode())
    for command, model in (("diff", PlanDocument), ("status", Status)):
        result = run_cli(vm, command, "--result")
        lines = result.stdout.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("RESULT {"), result.stderr
        document = model.model_validate_json(lines[0][len("RESULT ") :])
        as_json = json.loads(run_cli(vm, command, "--json").stdout)
        # One serialiser: the operator's --json and the workstation's RESULT agree, bar the clock.
        assert {k: v for k, v in as_json.items() if k != "updated_at"} == {
            k: v for k, v in json.loads(document.model_dump_json()).items() if k != "updated_at"
        }

    def plan() -> tuple[int, PlanDocument]:
        proc = run_cli(vm, "diff", "--result")
        return proc.returncode, PlanDocument.model_validate_json(proc.stdout.decode()[len("RESULT ") :])

    code, before = plan()
    assert code == 1 and before.unsettled() == ["beta", "config_version", "gate", "legacy", "stable"]
    assert before.resources["stable"].state == "drifted" and before.mode == "enforce"
    assert run_cli(vm, "once").returncode == 0
    code, after = plan()
    assert code == 0 and after.in_sync and after.unsettled() == []
    assert run_cli(vm, "diff", "--json", "--result").returncode == 2
