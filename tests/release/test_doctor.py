"""``./inv doctor`` as a person runs it: on a running sandbox, on one never started with a port
taken by a stranger, and on a target file that does not load."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from release.outside.sandbox_layout import endpoint_port
from release.parts.signing import KEYCHAIN_SERVICE
from schemas import Target
from tests.conftest import Sandbox, run_inv

from .helpers import one_json
from .test_signing import FAKE_SECURITY


def _rows(done: Any) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in one_json(done.stdout)["rows"]}


def test_a_running_sandbox_is_ready(sandbox: Sandbox) -> None:
    done = sandbox.inv("doctor")
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    rows = _rows(sandbox.inv("doctor", "--json"))
    assert rows["python"]["ok"] and rows["target file"]["ok"]
    assert rows["signing key"]["ok"] and "matches" in rows["signing key"]["found"]
    _, port = endpoint_port(str(sandbox.target.endpoints.staging.url))
    assert rows[f"port {port}"]["found"].startswith("staging-feed: ours (pid ")
    assert rows["production feed"]["ok"] and rows["staging feed"]["ok"]
    assert rows["store credential"]["found"] == "not needed: the sandbox's directory store"
    key = (sandbox.root / ".sandbox" / "signing" / "ed25519.key").read_text().strip()
    assert key not in done.stdout + done.stderr  # the secret is never shown, only its public half


def test_a_sandbox_never_started_names_each_fix(sandbox_target: tuple[Target, Path]) -> None:
    target, target_file = sandbox_target
    host, port = endpoint_port(str(target.endpoints.production.url))
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind((host, port))
        stranger.listen()
        done = run_inv("doctor", "--target", str(target_file))
        document = run_inv("doctor", "--json", "--target", str(target_file))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [f"error: doctor: signing key, port {port}, feeds failed (see the fix column)"]
    rows = _rows(document)
    assert rows[f"port {port}"]["found"] == (
        f"production-feed: {host}:{port} is held by a program this tool did not start"
    )
    assert rows["feeds"]["fix"] == rows["signing key"]["fix"] == "run ./inv sandbox.up"
    _, staging = endpoint_port(str(target.endpoints.staging.url))
    assert rows[f"port {staging}"]["found"] == "staging-feed: free"


def test_a_target_file_that_does_not_load_is_the_last_row(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: Not A Name\n")
    done = run_inv("doctor", "--json", "--target", str(broken))
    assert done.returncode == 1
    rows = one_json(done.stdout)["rows"]
    assert rows[-1]["name"] == "target file" and rows[-1]["ok"] is False
    assert rows[-1]["found"].startswith(f"target {broken}: ")
    assert done.stderr.strip() == "error: doctor: target file failed (see the fix column)"


def test_the_keychain_key_is_loaded_as_publish_loads_it(sandbox: Sandbox, tmp_path: Path) -> None:
    """A target whose key is in the login keychain, through a stand-in for macOS security(1) on PATH."""
    secret = (sandbox.root / ".sandbox" / "signing" / "ed25519.key").read_text().strip()
    store = tmp_path / "keychain.json"
    store.write_text(json.dumps({"service": KEYCHAIN_SERVICE, "account": "ed25519", "password": secret}))
    tool = tmp_path / "bin" / "security"
    tool.parent.mkdir()
    tool.write_text(FAKE_SECURITY.format(python=sys.executable, store=str(store)))
    tool.chmod(0o755)
    env = {**os.environ, "PATH": f"{tool.parent}{os.pathsep}{os.environ['PATH']}"}
    rows = {}
    for account in ("ed25519", "someone-else"):
        raw = YAML(typ="safe").load(sandbox.target_file.read_text(encoding="utf-8"))
        raw["signing"]["key"] = {"kind": "keychain", "account": account}
        target_file = tmp_path / f"{account}.yaml"
        YAML(typ="safe").dump(raw, target_file)
        done = run_inv("doctor", "--json", "--target", str(target_file), env=env)
        assert secret not in done.stdout + done.stderr
        rows[account] = _rows(done)["signing key"]
    assert rows["ed25519"]["ok"] and rows["ed25519"]["found"].startswith("signing key matches Info.plist")
    assert rows["someone-else"]["ok"] is False
    assert "could not be found in the keychain.; run Sparkle's generate_keys" in rows["someone-else"]["found"]
