"""The Azure Run Command remote, driven through the real azure-mgmt-compute client against the fake ARM.

The fake runs each script with /bin/sh against a VM tree, so the real reconciler CLI answers.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core.exceptions import ClientAuthenticationError

from release.errors import ReleaseError
from release.outside.remote.azure import AzureRemote
from schemas import BetaGate, Bundle, PlanDocument, Target, dump_model, utcnow
from tests.fakes.azure import FakeAzure, FakeCredential
from tests.production.conftest import SUBSCRIPTION, target_document

MakeRemote = Callable[..., AzureRemote]
pytestmark = pytest.mark.timeout(120)


def _bundle(gate: bool = True) -> Bundle:
    return Bundle(gate=BetaGate(enabled=gate, updated_at=utcnow(), reason="test"))


def test_status_reads_env_key_names_in_one_call(make_remote: MakeRemote, azure: FakeAzure) -> None:
    credential = FakeCredential()
    status = make_remote(credential).status()
    assert status.env_keys == {"GEMINI_API_KEY": True}
    assert azure.posts == 1 and len(azure.scripts) == 1
    assert credential.scopes and credential.scopes[0] == (f"{azure.base_url}/.default",)
    assert "placeholder-not-a-real-key" not in azure.scripts[0]


def test_accept_sends_the_bundle_on_stdin_and_is_idempotent(
    make_remote: MakeRemote, azure: FakeAzure
) -> None:
    remote = make_remote()
    bundle = _bundle()
    first = remote.accept(bundle, wait_s=20)
    assert first.ok and first.desired_digest == bundle.digest()
    # A here-document on the CLI's stdin, not an argument (one argument is limited to 128 KiB).
    script = azure.scripts[0].splitlines()
    assert bundle.model_dump_json() in script
    assert base64.b64encode(bundle.model_dump_json().encode()).decode() not in azure.scripts[0]
    committed = json.loads((azure.vm_root.parent / "vm-state/desired/bundle.json").read_bytes())
    assert committed["gate"] == json.loads(dump_model(bundle.gate)) and committed["stable"] is None  # type: ignore[arg-type]
    # No daemon runs on this fake VM: accept says so instead of running a pass of its own as root.
    assert first.converged is False and (first.waited_for, first.daemon) == ("none", "not running")
    azure.deliver_twice = True  # a re-sent POST runs the same script again: same outcome
    again = remote.accept(bundle, wait_s=20)
    assert again.ok and again.changed == [] and again.desired_digest == first.desired_digest
    assert len(azure.scripts) == 3


def test_accept_carries_long_release_notes(make_remote: MakeRemote, azure: FakeAzure) -> None:
    from tests.reconciler.test_remote_payload import long_notes_bundle

    bundle = long_notes_bundle()
    assert len(base64.b64encode(bundle.model_dump_json().encode())) > 128 << 10
    result = make_remote().accept(bundle)
    assert result.ok and result.desired_digest == bundle.digest()


def test_diff_answers_the_plan(make_remote: MakeRemote) -> None:
    plan = make_remote().diff()
    assert isinstance(plan, PlanDocument) and plan.resources and plan.mode == "enforce"


def test_busy_vm_is_retried_with_backoff(
    make_remote: MakeRemote, azure: FakeAzure, sleeps: list[float]
) -> None:
    azure.busy = 2
    status = make_remote().status()
    assert status.env_keys["GEMINI_API_KEY"] and azure.posts == 3 and len(sleeps) == 2


def test_busy_until_the_deadline_is_one_line(make_remote: MakeRemote, azure: FakeAzure) -> None:
    azure.busy = 10_000
    with pytest.raises(ReleaseError) as caught:
        make_remote(deadline_s=30).status()
    assert str(caught.value) == (
        "VM NexyNewRG/NexyNew stayed busy for 30 s: another Run Command in progress (Run Command ends a run "
        "after 90 minutes); retry after it ends (`az vm get-instance-view -g NexyNewRG -n NexyNew` shows it)"
    )
    assert azure.scripts == []


def test_a_run_that_outlasts_the_deadline_is_one_line(make_remote: MakeRemote, azure: FakeAzure) -> None:
    """The poller is bounded by the deadline in real time, not only the 409 retries."""
    azure.hold_s = 3.0
    with pytest.raises(ReleaseError) as caught:
        make_remote(deadline_s=1).status()
    # The instance view shows this very run in progress; no advice that would meet the same 409.
    assert str(caught.value).startswith(
        "Run Command status on NexyNew did not finish within 1 s: another Run Command has been running since "
    )
    assert "./inv status" not in str(caught.value)
    assert azure.posts == 1  # not re-sent: the first one may still run
    end = time.monotonic() + 60
    while azure.running() and time.monotonic() < end:
        time.sleep(0.1)  # let the held run finish before the VM tree goes away


def test_failed_script_reported_as_success_is_caught(make_remote: MakeRemote, azure: FakeAzure) -> None:
    azure.script_fails = True
    with pytest.raises(ReleaseError, match=r"gave no RESULT line .*: python3: error while loading shared"):
        make_remote().accept(_bundle())
    assert not (azure.vm_root.parent / "vm-state/desired/beta_gate.json").exists()


def test_missing_cli_on_the_vm_names_the_exit_code(make_remote: MakeRemote, azure: FakeAzure) -> None:
    make_remote().status()  # lays out the VM tree
    with pytest.raises(ReleaseError) as caught:
        make_remote(reconciler_cli="/opt/nowhere/nexy-reconciler").status()
    message = str(caught.value)
    assert "reconciler status exited 127 without its answer" in message and "not found" in message
    assert "\n" not in message


def test_only_the_output_tail_is_needed(make_remote: MakeRemote, azure: FakeAzure) -> None:
    status = make_remote(noisy=True).status()
    assert status.env_keys == {"GEMINI_API_KEY": True}


class _Refusing:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token.\nAttempted: ...")


def test_credential_problems_are_one_line(make_remote: MakeRemote, azure: FakeAzure) -> None:
    with pytest.raises(ReleaseError) as caught:
        make_remote(_Refusing()).status()
    assert str(caught.value).startswith("Azure credential (default) failed: DefaultAzureCredential failed")
    assert caught.value.code == 2 and "\n" not in str(caught.value)
    with pytest.raises(ReleaseError, match=r"Azure credential \(default\) failed"):
        make_remote(FakeCredential("expired-token")).status()
    with pytest.raises(ReleaseError, match=r"no Azure subscription: set \$AZURE_SUBSCRIPTION_ID"):
        make_remote(environ={}).status()
    assert azure.scripts == []


def test_unknown_vm_is_one_line(make_remote: MakeRemote, azure: FakeAzure) -> None:
    azure.vm_name = "OtherVm"
    with pytest.raises(ReleaseError, match="VM NexyNewRG/NexyNew not found in the subscription"):
        make_remote().status()


def test_describe_needs_no_credentials(make_remote: MakeRemote) -> None:
    line = make_remote(environ={}).describe()
    assert line.startswith("Azure VM NexyNewRG/NexyNew via Run Command") and json.dumps(line)


@pytest.mark.parametrize("kind", ["managed_identity", "default"])
def test_credential_from_the_environment(
    tmp_path: Path, azure: FakeAzure, monkeypatch: pytest.MonkeyPatch, make_remote: MakeRemote, kind: str
) -> None:
    """No injected credential: azure-identity gets the token from the managed identity (App Service
    shape), directly or as the link of DefaultAzureCredential's chain that answers."""
    make_remote().status()  # lays out the VM tree
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{azure.base_url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", azure.identity_header)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azure.ca_path))
    document = target_document(
        tmp_path,
        "http://127.0.0.1:1",
        azure.base_url,
        credential=kind,
        reconciler_cli=str(azure.vm_root / "opt/bin/nexy-reconciler"),
        reconciler_config=str(azure.vm_root / "etc/reconciler.yaml"),
    )
    remote = AzureRemote(
        Target.model_validate(document),
        environ={"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION},
        polling_interval_s=0.1,
    )
    assert remote.status().env_keys == {"GEMINI_API_KEY": True}
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")
    refused = AzureRemote(Target.model_validate(document), environ={"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION})
    with pytest.raises(ReleaseError, match=rf"Azure credential \({kind}\) failed") as caught:
        refused.status()
    assert "\n" not in str(caught.value)


def test_an_endpoint_that_hangs_up_is_one_line(tmp_path: Path, sleeps: list[float]) -> None:
    """ARM (or a proxy) closing the connection without an answer surfaces in azure-core as
    ServiceResponseError: retried like a busy VM, then one line, never a traceback."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    listener = socket.create_server(("127.0.0.1", 0))
    hung_up = []

    def serve() -> None:
        while True:
            try:
                raw, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(65536)  # read the request, answer nothing
                    hung_up.append(1)
            except OSError:
                raw.close()

    threading.Thread(target=serve, daemon=True).start()
    document = target_document(
        tmp_path, "http://127.0.0.1:1", f"https://127.0.0.1:{listener.getsockname()[1]}"
    )
    document["remote"]["deadline_s"] = 5
    virtual = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        virtual[0] += seconds

    remote = AzureRemote(
        Target.model_validate(document),
        credential=FakeCredential(),
        environ={"AZURE_SUBSCRIPTION_ID": SUBSCRIPTION},
        connection_verify=str(ca_path),
        sleep=sleep,
        clock=lambda: virtual[0],
    )
    try:
        with pytest.raises(ReleaseError) as caught:
            remote.status()
    finally:
        listener.close()
    message = str(caught.value)
    assert message.startswith("Run Command status on VM NexyNewRG/NexyNew failed") and "\n" not in message
    assert caught.value.code == 1 and hung_up


def test_the_sdk_speaks_arms_protocol_to_the_final_get(make_remote: MakeRemote, azure: FakeAzure) -> None:
    """202 with both headers, the async URL polled InProgress then Succeeded, the result read last from
    the Location (monitor) URL, as in the recorded ``az vm run-command invoke``."""
    azure.hold_s = 0.5
    assert make_remote().status().env_keys == {"GEMINI_API_KEY": True}
    kinds = []
    for method, path, status in azure.answers:
        monitor = "monitor=true" in path
        kinds.append(
            (method, "runCommand" if "runCommand" in path else "monitor" if monitor else "async", status)
        )
    assert kinds[0] == ("POST", "runCommand", 202) and kinds[-1] == ("GET", "monitor", 200)
    assert set(kinds[1:-1]) == {("GET", "async", 200)}
    assert azure.polled[0] == "InProgress" and azure.polled[-1] == "Succeeded"


def test_another_409_stops_at_once_with_arms_code_and_message(
    make_remote: MakeRemote, azure: FakeAzure, sleeps: list[float]
) -> None:
    """Only the in-progress 409 means busy: a stopped VM is said at once, in ARM's words."""
    azure.not_running = True
    with pytest.raises(ReleaseError) as caught:
        make_remote().status()
    assert str(caught.value) == (
        "Run Command on VM NexyNewRG/NexyNew refused (409 OperationNotAllowed): "
        "The operation requires the VM to be running (or set to run)."
    )
    assert caught.value.code == 1 and azure.posts == 1 and sleeps == []


@pytest.mark.parametrize(("outcome", "verb"), [("Failed", "failed"), ("Canceled", "was canceled")])
def test_an_operation_that_ends_failed_or_canceled_is_one_line(
    make_remote: MakeRemote, azure: FakeAzure, sleeps: list[float], outcome: str, verb: str
) -> None:
    azure.outcome = outcome
    with pytest.raises(ReleaseError) as caught:
        make_remote().status()
    assert str(caught.value) == (
        f"Run Command status on VM NexyNewRG/NexyNew {verb} (VMAgentStatusCommunicationError): "
        "VM 'NexyNew' has not reported status for VM agent or extensions."
    )
    assert caught.value.code == 1 and azure.posts == 1 and sleeps == []  # not re-sent: it may have run
    assert azure.polled[-1] == outcome and not any("monitor=true" in path for _, path, _ in azure.answers)


def test_sync_with_no_daemon_on_the_vm_says_to_start_it(
    make_remote: MakeRemote, azure: FakeAzure, tmp_path: Path
) -> None:
    """The fake VM runs no daemon: sync must say that, not "did not converge within 20s"."""
    from release.parts.session import Session
    from release.steps.flow import sync

    remote = make_remote()
    target = Target.model_validate(target_document(tmp_path, "http://127.0.0.1:1", azure.base_url))
    with Session.open(target, "sync") as session:
        session._remote = remote
        with pytest.raises(ReleaseError) as caught:
            sync(session, wait_s=20)
    message = str(caught.value)
    assert "no reconciler daemon is running" in message and "then ./inv sync" in message
    assert "did not converge" not in message and caught.value.code == 1
    assert (azure.vm_root.parent / "vm-state/desired/bundle.json").exists(), "the bundle is saved on the VM"


@pytest.mark.parametrize(
    ("configured", "passed", "used"), [(None, None, 5.0), (0.3, None, 0.3), (0.3, 0.1, 0.1)]
)
def test_the_poll_interval_is_the_targets_unless_a_caller_passes_one(
    tmp_path: Path, configured: float | None, passed: float | None, used: float
) -> None:
    """Production builds the remote from the target alone, so the target's ``polling_interval_s``
    (default 5 s, ARM's own pace) must be the one the SDK's poller gets; a caller's value wins."""
    extra = {} if configured is None else {"polling_interval_s": configured}
    target = Target.model_validate(target_document(tmp_path, "http://127.0.0.1:1", **extra))
    remote = AzureRemote(target, polling_interval_s=passed)
    # Private on purpose: the value goes straight into the SDK's begin_run_command(polling_interval=…).
    assert remote._polling_interval_s == used
