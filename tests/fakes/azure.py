"""A fake ARM endpoint on 127.0.0.1 (TLS from a trustme CA) that answers ``runCommand`` for real.

Rules (each shape from ``tests/fixtures/recorded/azure``, which names its source):
- ``POST .../virtualMachines/{vm}/runCommand`` is ARM's long-running operation as recorded in the
  Azure CLI's ``test_vm_run_command_e2e.yaml``: 202 with no body and two headers,
  ``Azure-AsyncOperation`` (``.../locations/{loc}/operations/{id}?api-version=...``) and ``Location``
  (the same with ``monitor=true``). The async URL answers 200 ``{"status": "InProgress"}`` while the
  script runs, then ``Succeeded`` (with ``properties.output``), or ``Failed`` / ``Canceled`` with an
  ``error`` body (ARM's "Track asynchronous Azure operations" page); the ``Location`` URL answers 202
  while running and, once succeeded, 200 with the ``RunCommandResult`` ``{"value": [...]}`` the SDK
  GETs last.
- The status message is the Linux run-command extension's (Azure/run-command-extension-linux,
  main/cmds.go: ``"\n[stdout]\n%s\n[stderr]\n%s"`` of each stream's last ``maxTailLen = 4 * 1024``
  bytes) behind ``Enable succeeded: `` as recorded. Run Command reports success whatever the exit code.
- The script really runs (``/bin/sh``, so it must be POSIX) with ``cwd`` the VM tree, so the real
  reconciler answers. One run at a time per VM: a POST while one runs is 409 with ARM's recorded
  in-progress body (``IN_PROGRESS``).
- A bearer token is required (``token``); a managed-identity endpoint (``/msi/token``, the App
  Service shape azure-identity reads from ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``) hands it out.
- Fault switches: ``busy`` (the next N POSTs answer the in-progress 409), ``not_running`` (every POST
  answers ARM's other 409, ``OperationNotAllowed``: the VM is stopped), ``outcome`` (``Failed`` or
  ``Canceled``: the operation ends so, with ``failure``'s code and message, and its script never
  runs), ``script_fails`` (the script is replaced by one that fails on stderr, and Run Command still
  reports success), ``deliver_twice`` (a POST is run twice, as a re-sent request would be),
  ``hold_s`` (the operation stays "in progress" that long before its script runs, like a VM agent
  that is slow to pick it up).
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
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from azure.core.credentials import AccessToken

from .jsonhttp import JsonHandler, serving

__all__ = ["IN_PROGRESS", "NOT_RUNNING", "FakeAzure", "FakeCredential", "extension_message", "running_azure"]

LIMIT = 4 * 1024  # maxTailLen in the run-command extension's main/cmds.go
API_VERSION = "2026-04-01"
# The in-progress 409, as recorded (Azure/azure-cli issue #32305, the CLI's debug log of the answer).
IN_PROGRESS = {
    "code": "Conflict",
    "message": "Run command extension execution is in progress. Please wait for completion before invoking "
    "a run command.",
}
# ARM's 409 for a VM that is not running (quoted in nakamacchi/AzureCAF.LandingZones.Demo issue #4).
NOT_RUNNING = {
    "code": "OperationNotAllowed",
    "message": "The operation requires the VM to be running (or set to run).",
}


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
    not_running: bool = False
    outcome: str = "Succeeded"
    failure: dict[str, str] = field(
        default_factory=lambda: {
            "code": "VMAgentStatusCommunicationError",
            "message": "VM 'NexyNew' has not reported status for VM agent or extensions.",
        }
    )
    script_fails: bool = False
    deliver_twice: bool = False
    hold_s: float = 0.0
    scripts: list[str] = field(default_factory=list)
    posts: int = 0
    base_url: str = ""
    ca_path: Path = Path()
    # operation id -> its status document (``status`` InProgress, Succeeded, Failed or Canceled)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (method, path with query, status) of every answer, in order
    answers: list[tuple[str, str, int]] = field(default_factory=list)
    # every ``status`` the async-operation URL answered, in order
    polled: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def running(self) -> bool:
        return any(op["status"] == "InProgress" for op in self.operations.values())

    def _finish(self, operation: str, **fields: Any) -> None:
        with self.lock:
            self.operations[operation] = {
                **self.operations[operation],
                "endTime": _now(),
                **fields,
            }

    def run_script(self, operation: str, lines: list[str]) -> None:
        time.sleep(self.hold_s)
        if self.outcome != "Succeeded":
            return self._finish(operation, status=self.outcome, error=dict(self.failure))
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
        status = {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "message": extension_message(done.stdout, done.stderr),
        }
        return self._finish(operation, status="Succeeded", properties={"output": {"value": [status]}})


def extension_message(stdout: bytes, stderr: bytes) -> str:
    """The status message of RunShellScript: each stream's last 4 KB, in the extension's format."""
    out = stdout[-LIMIT:].decode(errors="replace")
    err = stderr[-LIMIT:].decode(errors="replace")
    return f"Enable succeeded: \n[stdout]\n{out}\n[stderr]\n{err}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _Handler(JsonHandler):
    server: _Server

    def response_headers(self) -> dict[str, str]:
        return {"x-ms-request-id": f"req-{time.monotonic_ns()}"}

    def send_response(self, code: int, message: str | None = None) -> None:
        fake = self.server.fake
        with fake.lock:
            fake.answers.append((self.command, self.path, code))
        super().send_response(code, message)

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
            r"/subscriptions/[^/]+/providers/Microsoft.Compute/locations/[^/]+/operations/([\w-]+)", url.path
        )
        if match is None or match.group(1) not in fake.operations:
            return self._error(404, "NotFound", "no such operation")
        with fake.lock:
            operation = dict(fake.operations[match.group(1)])
        if parse_qs(url.query).get("monitor") != ["true"]:
            fake.polled.append(operation["status"])
            return self._send(200, operation)
        # The monitor (Location) URL: 202 while running, then the operation's result.
        if operation["status"] == "InProgress":
            return self._send(202, None, {"Location": self._monitor(match.group(1))})
        return self._send(200, operation.get("properties", {}).get("output", {"value": []}))

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.server.fake.token}":
            self._body()
            self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
            return False
        return True

    def _operation_url(self, operation: str) -> str:
        fake = self.server.fake
        return (
            f"{fake.base_url}/subscriptions/{fake.subscription}/providers/Microsoft.Compute/locations/"
            f"canadacentral/operations/{operation}"
        )

    def _monitor(self, operation: str) -> str:
        return f"{self._operation_url(operation)}?monitor=true&api-version={API_VERSION}"

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
            if fake.not_running:
                return self._error(409, **NOT_RUNNING)
            if fake.busy > 0 or fake.running():
                fake.busy = max(0, fake.busy - 1)
                return self._error(409, **IN_PROGRESS)
            operation = str(uuid.UUID(int=next(fake._ids)))
            fake.operations[operation] = {"startTime": _now(), "status": "InProgress", "name": operation}
        threading.Thread(target=fake.run_script, args=(operation, body["script"]), daemon=True).start()
        headers = {
            "Azure-AsyncOperation": f"{self._operation_url(operation)}?api-version={API_VERSION}",
            "Location": self._monitor(operation),
        }
        return self._send(202, None, headers)


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
