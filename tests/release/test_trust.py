"""HTTPS trust is decided once (``release.outside.probes.ssl_context``): the target's ca_bundle, else the OS store.

A real TLS server on loopback (trustme certificates) and real handshakes. "The OS store" on Linux is
OpenSSL's default location, which ``SSL_CERT_FILE`` points at here; on macOS truststore asks the
keychain instead, which is why a python.org Python needs no "Install Certificates" step.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
import truststore

from release.errors import ReleaseError
from release.outside.probes import ssl_context, tls_handshake, trust_context
from release.outside.store.github import GithubStore
from release.parts.session import Session
from schemas import Target
from tests.conftest import run_inv, write_sandbox_target
from tests.production.conftest import target_document

pytestmark = pytest.mark.timeout(60)
# Where the OS store is OpenSSL's (Linux), SSL_CERT_FILE can stand for "a CA the system trusts";
# on macOS truststore asks the keychain, which a test must not edit.
openssl_store = pytest.mark.skipif(sys.platform == "darwin", reason="the OS store is the keychain")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A TLS listener on 127.0.0.1 whose certificate only ``system-ca.pem`` vouches for."""
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "system-ca.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", tmp_path / "system-ca.pem"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@openssl_store
def test_without_a_ca_bundle_the_operating_system_store_decides(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, system_ca = server
    target = Target.model_validate(target_document(tmp_path, "http://127.0.0.1:1"))
    assert target.ca_bundle is None
    context = ssl_context(target)
    assert isinstance(context, truststore.SSLContext)
    assert tls_handshake(url, context)[0] is False, "a CA the system does not know must not be trusted"
    monkeypatch.setenv("SSL_CERT_FILE", str(system_ca))
    ok, detail = tls_handshake(url, ssl_context(target))
    assert ok, detail


def test_a_target_ca_bundle_wins_over_the_system_store(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, system_ca = server
    monkeypatch.setenv("SSL_CERT_FILE", str(system_ca))
    target = write_sandbox_target(tmp_path / "box")[0]
    other = trustme.CA()
    bundle = target.path(target.ca_bundle or "")
    bundle.parent.mkdir(parents=True, exist_ok=True)
    other.cert_pem.write_to_path(str(bundle))
    # The sandbox's CA is the only anchor: a certificate the system store vouches for is refused.
    ok, detail = tls_handshake(url, ssl_context(target))
    assert not ok
    assert "CERTIFICATE_VERIFY_FAILED" in detail
    bundle.write_bytes(system_ca.read_bytes())
    assert tls_handshake(url, ssl_context(target))[0] is True


@openssl_store
def test_every_workstation_http_client_is_built_on_the_one_decision(
    server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, system_ca = server
    monkeypatch.setenv("SSL_CERT_FILE", str(system_ca))
    target = Target.model_validate(target_document(tmp_path, "http://127.0.0.1:1"))
    store = GithubStore(target, token="t")
    try:
        with Session.open(target, "test") as session:
            for client in (session.http, store.http()):
                # The handshake succeeds (then the listener closes): trust came from the OS store.
                with pytest.raises(httpx.RemoteProtocolError):
                    client.get(url)
        assert isinstance(trust_context(), truststore.SSLContext)
    finally:
        store.http().close()


def test_a_ca_bundle_that_cannot_be_read_is_one_line_naming_it(tmp_path: Path) -> None:
    """Missing (the sandbox before its first up) or not a certificate: one line, never a traceback."""
    target, target_file = write_sandbox_target(tmp_path / "box")
    bundle = target.path(target.ca_bundle or "")
    for task in ("status", "preflight"):
        done = run_inv(task, "--target", str(target_file))
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines() == [
            f"error: ca_bundle {bundle} cannot be read (No such file or directory): "
            "the sandbox is not running: run ./inv sandbox.up"
        ]
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_text("not a certificate\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=rf"^ca_bundle {bundle} cannot be read \(.+\): ") as caught:
        ssl_context(target)
    assert "\n" not in str(caught.value)
