"""A fake ARM endpoint on 127.0.0.1 (TLS from a trustme CA) that answers ``runCommand`` for real.

Rules:
- ``POST .../virtualMachines/{vm}/runCommand`` is a long-running operation as ARM documents it:
  202 + ``Location``; polling the location answers 202 while the script runs, then 200 with the
  ``RunCommandResult`` body whose message is ``Enable succeeded: \\n[stdout]\\n...\\n[stderr]\\n...``,
  each stream cut to its last 4,096 bytes. Run Command always reports success, whatever the exit code.
- The script really runs (``/bin/sh``, so it must be POSIX) with ``cwd`` the VM tree, so the real
  reconciler answers. One run at a time per VM: a POST while one runs is 409 Conflict.
- A bearer token is required (``token``); a managed-identity endpoint (``/msi/token``, the App
  Service shape azure-identity reads from ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``) hands it out.
- Fault switches: ``busy`` (the next N POSTs answer 409), ``script_fails`` (the script is replaced
  by one that fails on stderr, and Run Command still reports success), ``deliver_twice`` (a POST is
  run twice, as a re-sent request would be), ``hold_s`` (the operation stays "in progress" that long
  before its script runs, like a VM agent that is slow to pick it up).
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from azure.core.credentials import AccessToken

from .jsonhttp import JsonHandler, serving

__all__ = ["FakeAzure", "FakeCredential", "running_azure"]

LIMIT = 4096


class FakeCredential:
    """A TokenCredential standing in for Entra ID (outside this machine)."""

    def __init__(self, token: str = "fake-arm-token") -> None:  # noqa: S107 - a fake, not a secret
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class FakeAzure:
    vm_root: Path
    subscription: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "NexyNewRG"
    vm_name: str = "NexyNew"
    token: str = "fake-arm-token"
    identity_header: str = "fake-identity-header"
    env: dict[str, str] | None = None
    busy: int = 0
    script_fails: bool = False
    deliver_twice: bool = False
    hold_s: float = 0.0
    scripts: list[str] = field(default_factory=list)
    posts: int = 0
    base_url: str = ""
    ca_path: Path = Path()
    operations: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def run_script(self, operation: str, lines: list[str]) -> None:
        time.sleep(self.hold_s)
        script = "\n".join(lines) + "\n"
        if self.script_fails:
            script = "echo 'python3: error while loading shared libraries' >&2\nexit 127\n"
        runs = 2 if self.deliver_twice else 1
        for _ in range(runs):
            self.scripts.append(script)
            with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as handle:
                handle.write(script)
            done = subprocess.run(
                ["/bin/sh", handle.name], cwd=self.vm_root, env=self.env, capture_output=True, timeout=300
            )
            Path(handle.name).unlink()
        out = done.stdout[-LIMIT:].decode(errors="replace")
        err = done.stderr[-LIMIT:].decode(errors="replace")
        status = {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "message": f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n{err}\n",
        }
        with self.lock:
            self.operations[operation] = {"value": [status]}


class _Handler(JsonHandler):
    server: _Server

    def response_headers(self) -> dict[str, str]:
        return {"x-ms-request-id": f"req-{time.monotonic_ns()}"}

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        if url.path == "/msi/token":
            if self.headers.get("X-IDENTITY-HEADER") != fake.identity_header:
                return self._error(401, "Unauthorized", "missing identity header")
            resource = parse_qs(url.query).get("resource", [""])[0]
            expires = str(int(time.time()) + 3600)
            token = {
                "access_token": fake.token,
                "expires_on": expires,
                "resource": resource,
                "token_type": "Bearer",
            }
            return self._send(200, token)
        if not self._authorised():
            return None
        match = re.fullmatch(
            r"/subscriptions/[^/]+/providers/Microsoft.Compute/locations/[^/]+/operations/(\w+)", url.path
        )
        if match is None or match.group(1) not in fake.operations:
            return self._error(404, "NotFound", "no such operation")
        with fake.lock:
            result = fake.operations[match.group(1)]
        if result is None:
            return self._send(
                202, None, {"Location": self._location(match.group(1)), "retry-after-ms": "100"}
            )
        return self._send(200, result)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.server.fake.token}":
            self._body()
            self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            return False
        return True

    def _location(self, operation: str) -> str:
        fake = self.server.fake
        return (
            f"{fake.base_url}/subscriptions/{fake.subscription}/providers/Microsoft.Compute/locations/"
            f"canadacentral/operations/{operation}?api-version=2026-04-01"
        )

    def do_POST(self) -> None:
        fake = self.server.fake
        if not self._authorised():
            return None
        path = urlsplit(self.path).path
        expected = (
            f"/subscriptions/{fake.subscription}/resourceGroups/{fake.resource_group}/providers/"
            f"Microsoft.Compute/virtualMachines/{fake.vm_name}/runCommand"
        )
        body = self._body()
        if path.lower() != expected.lower():
            return self._error(404, "ResourceNotFound", "The Resource was not found.")
        if body.get("commandId") != "RunShellScript" or not isinstance(body.get("script"), list):
            return self._error(400, "InvalidParameter", "commandId RunShellScript and a script are required")
        with fake.lock:
            fake.posts += 1
            running = any(result is None for result in fake.operations.values())
            if fake.busy > 0 or running:
                fake.busy = max(0, fake.busy - 1)
                conflict = "Run command extension execution is in progress. Please wait for completion."
                return self._error(409, "Conflict", conflict)
            operation = f"op{next(fake._ids)}"
            fake.operations[operation] = None
        threading.Thread(target=fake.run_script, args=(operation, body["script"]), daemon=True).start()
        return self._send(202, None, {"Location": self._location(operation), "retry-after-ms": "100"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeAzure


@contextmanager
def running_azure(fake: FakeAzure, tls_dir: Path) -> Iterator[FakeAzure]:
    """Serve ``fake`` over TLS on 127.0.0.1 (a free port); ``fake.ca_path`` is the CA to trust."""
    ca = trustme.CA()
    tls_dir.mkdir(parents=True, exist_ok=True)
    fake.ca_path = tls_dir / "fake-arm-ca.pem"
    ca.cert_pem.write_to_path(str(fake.ca_path))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.fake = fake
    fake.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    with serving(server, "fake-arm"):
        yield fake
