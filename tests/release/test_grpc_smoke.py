"""The gRPC smoke against real gRPC stand-in processes: every outcome, TLS as the target states it.

The sandbox runs two stand-ins (``release.sandbox.grpcstub``, grpcio's standard health servicer) on
the target's production and staging gRPC endpoints; the tests here start more of them, each a real
process on its own free loopback port, for the outcomes the sandbox does not show by default.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from ruamel.yaml import YAML

from release.outside.grpcsmoke import check_row, health_check
from release.outside.sandbox_layout import sandbox_paths
from release.sandbox.procs import start, stop
from release.sandbox.service import grpc_status_file
from schemas import atomic_write
from tests.conftest import REPO, run_inv
from tests.ports import free_ports

from .helpers import one_json, poll

pytestmark = pytest.mark.timeout(300)

Stub = Callable[..., str]


@pytest.fixture
def stub(tmp_path: Path) -> Iterator[Stub]:
    """Start ``grpcstub`` processes on free loopback ports; returns ``host:port``; all stopped at the end."""
    pid_files: list[Path] = []

    def run(*options: str) -> str:
        (port,) = free_ports(1)
        name = f"stub-{port}"
        log = tmp_path / f"{name}.log"
        argv = [sys.executable, "-m", "release.sandbox.grpcstub", "--host", "127.0.0.1", "--port", str(port)]
        pid_file = tmp_path / f"{name}.pid"
        pid_files.append(pid_file)

        def ready(_pid: int) -> bool:
            return log.exists() and "grpcstub: serving" in log.read_text(encoding="utf-8")

        start(name, [*argv, *options], pid_file=pid_file, log=log, cwd=tmp_path, ready=ready)
        return f"127.0.0.1:{port}"

    try:
        yield run
    finally:
        for pid_file in pid_files:
            stop(pid_file)


def _tls_options(box: Any) -> list[str]:
    paths = sandbox_paths(box.target)
    return ["--certfile", str(paths.server_cert), "--keyfile", str(paths.server_key)]


def _ca(box: Any) -> Path:
    return sandbox_paths(box.target).ca_bundle


def test_both_sandbox_endpoints_pass_over_tls_on_ports_other_than_443(sandbox: Any) -> None:
    grpc = sandbox.target.grpc
    for which, endpoint in (("production", grpc.production), ("staging", grpc.staging)):
        assert endpoint.tls is True and not endpoint.endpoint.endswith(":443")
        row = check_row(sandbox.target, which)
        assert row.name == "grpc" and row.ok, row.detail
        assert row.detail == f"{which} {endpoint.endpoint} (TLS): the server is SERVING"


def test_preflight_json_carries_the_grpc_row_for_production(sandbox: Any) -> None:
    done = sandbox.inv("preflight", "--json", check=False)
    rows = {c["name"]: c for c in one_json(done.stdout)["checks"]}
    assert rows["grpc"]["ok"] is True
    assert sandbox.target.grpc.production.endpoint in rows["grpc"]["detail"]


def test_not_serving_fails_preflight_naming_the_endpoint(sandbox: Any) -> None:
    status_file = grpc_status_file(sandbox_paths(sandbox.target), "production-grpc")
    endpoint = sandbox.target.grpc.production.endpoint
    atomic_write(status_file, b"NOT_SERVING\n")
    try:
        poll(lambda: not check_row(sandbox.target, "production").ok, 20, "the stand-in answering NOT_SERVING")
        done = sandbox.inv("preflight", "--json", check=False)
        assert done.returncode == 1
        rows = {c["name"]: c for c in one_json(done.stdout)["checks"]}
        assert rows["grpc"]["ok"] is False
        assert rows["grpc"]["detail"] == f"production {endpoint} (TLS): the server is NOT_SERVING"
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: preflight failed: ") and f"grpc: production {endpoint}" in last
        # A dry run names the call and does not make it: the NOT_SERVING answer is never seen.
        planned = sandbox.inv("preflight", "--dry-run", "--json", check=False)
        rows = {c["name"]: c for c in one_json(planned.stdout)["checks"]}
        assert rows["grpc"]["ok"] is True and rows["grpc"]["detail"].startswith("not called (dry run): ")
        assert "NOT_SERVING" not in planned.stdout + planned.stderr
        plan = f"plan: grpc production: grpc.health.v1.Health/Check (the whole server) on {endpoint} (TLS)"
        assert plan in planned.stderr
    finally:
        status_file.unlink()
    poll(lambda: check_row(sandbox.target, "production").ok, 20, "the stand-in SERVING again")


def test_plain_text_on_a_tls_marked_port_fails_clearly(sandbox: Any, stub: Stub) -> None:
    endpoint = stub()  # no certificate: plain text
    outcome = health_check(endpoint, True, ca_bundle=_ca(sandbox), deadline_s=3)
    assert not outcome.ok and outcome.status == "UNAVAILABLE"
    assert outcome.detail.startswith(f"{endpoint} (TLS): UNAVAILABLE: the port answered without TLS")
    assert "\n" not in outcome.detail
    assert health_check(endpoint, False, deadline_s=3).ok  # the same server, asked in plain text


def test_tls_on_a_plain_marked_port_fails_clearly(sandbox: Any) -> None:
    endpoint = sandbox.target.grpc.staging.endpoint
    outcome = health_check(endpoint, False, deadline_s=3)
    assert not outcome.ok and outcome.status == "UNAVAILABLE"
    assert outcome.detail.startswith(
        f"{endpoint} (plain text): UNAVAILABLE: the port closed a plain-text connection: does it expect TLS?"
    )


def test_a_server_without_the_health_service_passes_with_a_note(sandbox: Any, stub: Stub) -> None:
    endpoint = stub("--no-health", *_tls_options(sandbox))
    outcome = health_check(endpoint, True, ca_bundle=_ca(sandbox), deadline_s=3)
    assert outcome.ok and outcome.status == "UNIMPLEMENTED"
    assert outcome.detail == f"{endpoint} (TLS): answered gRPC, but has no health service (UNIMPLEMENTED)"


def test_the_host_name_is_checked(stub: Stub, tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("feed.example.test")  # trusted, but not for 127.0.0.1
    cert, key, ca_file = tmp_path / "leaf.pem", tmp_path / "leaf-key.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    endpoint = stub("--certfile", str(cert), "--keyfile", str(key))
    outcome = health_check(endpoint, True, ca_bundle=ca_file, deadline_s=3)
    assert not outcome.ok
    assert outcome.detail.startswith(
        f"{endpoint} (TLS): UNAVAILABLE: its certificate does not name 127.0.0.1"
    )
    named = ca.issue_cert("127.0.0.1")
    named.cert_chain_pems[0].write_to_path(str(cert))
    named.private_key_pem.write_to_path(str(key))
    good = stub("--certfile", str(cert), "--keyfile", str(key))
    assert health_check(good, True, ca_bundle=ca_file, deadline_s=3).ok


def test_without_the_ca_bundle_the_system_store_does_not_trust_the_sandbox(sandbox: Any) -> None:
    endpoint = sandbox.target.grpc.production.endpoint
    outcome = health_check(endpoint, True, ca_bundle=None, deadline_s=3)
    assert not outcome.ok
    assert "its certificate is not trusted by the system store" in outcome.detail


@pytest.mark.skipif(sys.platform == "darwin", reason="the keychain, not SSL_CERT_FILE, is macOS's store")
def test_without_a_ca_bundle_the_system_store_is_what_is_trusted(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CA the OS store trusts (OpenSSL's SSL_CERT_FILE, what ssl.get_default_verify_paths() reads)
    # and grpcio's bundled roots do not: the check passes only if it reads the system store.
    monkeypatch.setenv("SSL_CERT_FILE", str(_ca(sandbox)))
    endpoint = sandbox.target.grpc.production.endpoint
    outcome = health_check(endpoint, True, ca_bundle=None, deadline_s=3)
    assert outcome.ok, outcome.detail


def test_a_named_service_is_asked_for_by_name(sandbox: Any, stub: Stub) -> None:
    endpoint = stub("--service", "nexy.Assistant", *_tls_options(sandbox))
    ok = health_check(endpoint, True, ca_bundle=_ca(sandbox), service="nexy.Assistant", deadline_s=3)
    assert ok.ok and ok.detail == f"{endpoint} (TLS): service 'nexy.Assistant' is SERVING"
    unknown = health_check(endpoint, True, ca_bundle=_ca(sandbox), service="nexy.Missing", deadline_s=3)
    assert not unknown.ok and unknown.status == "NOT_FOUND"
    assert "does not know service 'nexy.Missing'" in unknown.detail


def test_a_silent_server_fails_at_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            accepted.append(listener.accept()[0])  # accepts, then never says a word
        except OSError:
            return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    endpoint = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        outcome = health_check(endpoint, False, deadline_s=0.5)
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert not outcome.ok and outcome.status == "DEADLINE_EXCEEDED"
    assert outcome.detail == f"{endpoint} (plain text): no answer within 0.5s"


def test_nothing_listening_and_an_unreadable_ca_bundle_fail_in_one_line(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    refused = health_check(f"127.0.0.1:{port}", True, ca_bundle=None, deadline_s=3)
    assert not refused.ok and "nothing listens there" in refused.detail
    missing = health_check(f"127.0.0.1:{port}", True, ca_bundle=tmp_path / "nope.pem", deadline_s=3)
    assert not missing.ok and missing.detail.startswith(f"127.0.0.1:{port} (TLS): cannot read ca_bundle")


def test_the_stand_in_refuses_a_non_loopback_host_and_a_taken_port(stub: Stub) -> None:
    wide = subprocess.run(
        [sys.executable, "-m", "release.sandbox.grpcstub", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert wide.returncode == 2 and "not a loopback address" in wide.stderr
    taken = stub().rsplit(":", 1)[1]
    second = subprocess.run(
        [sys.executable, "-m", "release.sandbox.grpcstub", "--port", taken],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert second.returncode == 1 and f"cannot serve on 127.0.0.1:{taken}" in second.stderr


def _preflight_with_grpc(
    box: Any, tmp_path: Path, endpoint: str, tls: bool
) -> subprocess.CompletedProcess[str]:
    """preflight on a copy of the sandbox target whose production gRPC endpoint is ``endpoint``/``tls``."""
    raw = YAML(typ="safe").load(box.target_file.read_text(encoding="utf-8"))
    for block in (raw["grpc"]["production"], raw["release_target"]["grpc"]):
        block.update(endpoint=endpoint, tls=tls)
    target_file = tmp_path / "grpc-target.yaml"
    YAML(typ="safe").dump(raw, target_file)
    return run_inv("preflight", "--target", str(target_file), timeout=120)


def test_a_tls_endpoint_marked_plain_fails_preflight_in_one_line(sandbox: Any, tmp_path: Path) -> None:
    endpoint = sandbox.target.grpc.production.endpoint
    done = _preflight_with_grpc(sandbox, tmp_path, endpoint, tls=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"grpc: production {endpoint} (plain text): UNAVAILABLE: the port closed a plain-text" in lines[0]


def test_a_plain_endpoint_marked_tls_fails_preflight_in_one_line(
    sandbox: Any, stub: Stub, tmp_path: Path
) -> None:
    endpoint = stub()
    done = _preflight_with_grpc(sandbox, tmp_path, endpoint, tls=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # grpc's own handshake logging stays out of the way
    assert f"grpc: production {endpoint} (TLS): UNAVAILABLE: the port answered without TLS" in lines[0]


def test_a_target_without_a_grpc_block_fails_the_row_and_says_so(sandbox_target: Any) -> None:
    target, _ = sandbox_target
    bare = target.model_copy(update={"grpc": None})
    for which in ("production", "staging"):
        row = check_row(bare, which)
        assert (row.name, row.ok) == ("grpc", False)
        assert row.detail == f"the target names no grpc block ({which} endpoint)"


def _verbosity_after_a_check(env: dict[str, str], first: str = "") -> str:
    """GRPC_VERBOSITY in a fresh interpreter after one health_check (on a port nothing listens on)."""
    (port,) = free_ports(1)
    code = (
        f"{first}\nimport os\nfrom release.outside.grpcsmoke import health_check\n"
        f"health_check('127.0.0.1:{port}', False, deadline_s=1)\n"
        "print(os.environ.get('GRPC_VERBOSITY', '<unset>'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_grpc_verbosity_is_only_a_default_set_before_grpc_is_first_imported() -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    assert _verbosity_after_a_check(env) == "ERROR"
    assert _verbosity_after_a_check(env | {"GRPC_VERBOSITY": "DEBUG"}) == "DEBUG"
    # Set after grpc's import it would change nothing in grpc, only the environment of children.
    assert _verbosity_after_a_check(env, first="import grpc") == "<unset>"
