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
  that is slow to pick it up, or a run that outlives the caller's deadline).
- The extension's limits (Azure/run-command-extension-linux, main/cmds.go): a script whose base64
  text is over ``maxScriptSize = 256 * 1024`` bytes is never written (``writeTempScript`` errs, and
  ``enable`` still returns success), so the operation ends ``Succeeded`` with both streams empty;
  only the last ``maxTailLen = 4 * 1024`` bytes of each stream come back (``tailFile``). The
  script text is the lines joined by newlines, as the fake runs it.
- ``agent_not_ready_s``: the VM agent is not ready (since ``agent_down_since``): a POST is still
  accepted, its operation stays InProgress that long, then ends ``Failed`` with ``failure``
  (VMAgentStatusCommunicationError by default; a reported case took about 25 minutes).
- ``run_limit_s`` stands for Run Command's 90 minutes (Azure's Run Command docs, "Restrictions"): a
  script still running then is killed and its operation ends ``Failed`` with
  ``VMExtensionProvisioningTimeout`` (the message quoted in Azure/azure-sdk-for-python issue
  #4369); no operation is ever left InProgress.
- ``GET .../virtualMachines/{vm}/instanceView`` answers ARM's ``VirtualMachineInstanceView``
  (azure-mgmt-compute's model; the agent statuses as in the Azure CLI's recorded VM tests:
  ``ProvisioningState/succeeded`` "Ready" "Guest Agent is running", or ``ProvisioningState/Unavailable``
  "Not Ready" "VM Agent is unresponsive."), with the RunCommandLinux extension ``transitioning``
  since the start of a run in progress.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import signal
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

__all__ = [
    "IN_PROGRESS",
    "MAX_SCRIPT",
    "NOT_RUNNING",
    "TIMED_OUT",
    "FakeAzure",
    "FakeCredential",
    "extension_message",
    "running_azure",
    "script_size",
]

LIMIT = 4 * 1024  # maxTailLen in the run-command extension's main/cmds.go
MAX_SCRIPT = 256 * 1024  # maxScriptSize there, checked on the base64 script text
EXTENSION = "Microsoft.CPlat.Core.RunCommandLinux"
# The 90-minute end state (Azure/azure-sdk-for-python issue #4369 quotes ARM's answer).
TIMED_OUT = {
    "code": "VMExtensionProvisioningTimeout",
    "message": "Provisioning of VM extension 'RunCommandLinux' has timed out. Extension installation may be "
    "taking too long, or extension status could not be obtained.",
}
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
    agent_not_ready_s: float = 0.0
    agent_down_since: str = field(default_factory=lambda: _now())
    run_limit_s: float = 300.0
    # every script POSTed, as its base64 length (what the extension measures)
    script_sizes: list[int] = field(default_factory=list)
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

    def run_guarded(self, operation: str, lines: list[str]) -> None:
        """``run_script``, and whatever goes wrong in the fake itself still ends the operation."""
        try:
            self.run_script(operation, lines)
        except Exception as exc:  # any fault of the fake must not leave it InProgress
            self._finish(operation, status="Failed", error={"code": "FakeError", "message": repr(exc)})

    def run_script(self, operation: str, lines: list[str]) -> None:
        if self.agent_not_ready_s > 0:
            time.sleep(self.agent_not_ready_s)
            return self._finish(operation, status="Failed", error=dict(self.failure))
        time.sleep(self.hold_s)
        if self.outcome != "Succeeded":
            return self._finish(operation, status=self.outcome, error=dict(self.failure))
        script = "\n".join(lines) + "\n"
        if self.script_fails:
            script = "echo 'python3: error while loading shared libraries' >&2\nexit 127\n"
        if script_size(lines) > MAX_SCRIPT:
            # writeTempScript refused it; enable() reports success with nothing run.
            return self._succeed(operation, b"", b"")
        runs = 2 if self.deliver_twice else 1
        for _ in range(runs):
            self.scripts.append(script)
            with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as handle:
                handle.write(script)
            try:
                stdout, stderr = self._execute(handle.name)
            except subprocess.TimeoutExpired:
                return self._finish(operation, status="Failed", error=dict(TIMED_OUT))
            finally:
                Path(handle.name).unlink()
        return self._succeed(operation, stdout, stderr)

    def _execute(self, script: str) -> tuple[bytes, bytes]:
        """Run ``script`` in its own process group; past ``run_limit_s`` the whole group is killed
        (so no child keeps the pipes open) and TimeoutExpired raised."""
        with subprocess.Popen(
            ["/bin/sh", script],
            cwd=self.vm_root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        ) as process:
            try:
                return process.communicate(timeout=self.run_limit_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise

    def _succeed(self, operation: str, stdout: bytes, stderr: bytes) -> None:
        status = {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "message": extension_message(stdout, stderr),
        }
        self._finish(operation, status="Succeeded", properties={"output": {"value": [status]}})

    def instance_view(self) -> dict[str, Any]:
        """ARM's VirtualMachineInstanceView of this VM: agent and RunCommandLinux statuses."""
        if self.agent_not_ready_s > 0:
            agent = {
                "vmAgentVersion": "Unknown",
                "statuses": [
                    {
                        "code": "ProvisioningState/Unavailable",
                        "level": "Warning",
                        "displayStatus": "Not Ready",
                        "message": "VM Agent is unresponsive.",
                        "time": self.agent_down_since,
                    }
                ],
            }
        else:
            agent = {
                "vmAgentVersion": "2.2.54",
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded",
                        "level": "Info",
                        "displayStatus": "Ready",
                        "message": "Guest Agent is running",
                        "time": _now(),
                    }
                ],
            }
        with self.lock:
            running = [op for op in self.operations.values() if op["status"] == "InProgress"]
        extensions = []
        if running:
            extensions.append(
                {
                    "name": "RunCommandLinux",
                    "type": EXTENSION,
                    "typeHandlerVersion": "1.0.5",
                    "statuses": [
                        {
                            "code": "ProvisioningState/transitioning",
                            "level": "Info",
                            "displayStatus": "Transitioning",
                            "message": "Enable in progress",
                            "time": running[0]["startTime"],
                        }
                    ],
                }
            )
        return {
            "computerName": self.vm_name,
            "osName": "ubuntu",
            "osVersion": "24.04",
            "vmAgent": agent,
            "extensions": extensions,
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                },
                {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
            ],
        }


def script_size(lines: list[str]) -> int:
    """The length the extension checks against maxScriptSize: the base64 of the script text."""
    return len(base64.b64encode(("\n".join(lines) + "\n").encode()))


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
        if url.path.lower() == f"{self._vm_path()}/instanceView".lower():
            return self._send(200, fake.instance_view())
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

    def _vm_path(self) -> str:
        fake = self.server.fake
        return (
            f"/subscriptions/{fake.subscription}/resourceGroups/{fake.resource_group}/providers/"
            f"Microsoft.Compute/virtualMachines/{fake.vm_name}"
        )

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
        expected = f"{self._vm_path()}/runCommand"
        body = self._body()
        if path.lower() != expected.lower():
            return self._error(404, "ResourceNotFound", "The Resource was not found.")
        if body.get("commandId") != "RunShellScript" or not isinstance(body.get("script"), list):
            return self._error(400, "InvalidParameter", "commandId RunShellScript and a script are required")
        with fake.lock:
            fake.posts += 1
            fake.script_sizes.append(script_size(body["script"]))
            if fake.not_running:
                return self._error(409, **NOT_RUNNING)
            if fake.busy > 0 or fake.running():
                fake.busy = max(0, fake.busy - 1)
                return self._error(409, **IN_PROGRESS)
            operation = str(uuid.UUID(int=next(fake._ids)))
            fake.operations[operation] = {"startTime": _now(), "status": "InProgress", "name": operation}
        threading.Thread(target=fake.run_guarded, args=(operation, body["script"]), daemon=True).start()
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
