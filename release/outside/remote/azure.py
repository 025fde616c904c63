"""The production ``Remote``: the reconciler CLI on the VM through Azure Run Command.

Rules (on top of the ``Remote`` protocol's):
- One ``begin_run_command(RunShellScript)`` per method; the script is built by ``_runscript`` and
  the answer is the last ``RESULT`` line of the returned stdout, never Run Command's own status.
  The exception is a bundle whose script would pass 224 KiB of base64 (the extension refuses 256
  KiB): it is staged in up to 8 parts first, one Run Command each, then accepted whole
  (``_staging``); no script over that margin is ever sent.
- The credential is azure-identity's (``DefaultAzureCredential`` unless the target names another)
  and the subscription comes from the environment variable the target names; both are resolved at
  the first call, so ``describe`` and dry runs need neither. Failures are one line, never a trace.
- Only ARM's in-progress 409 (code ``Conflict``, "Run command extension execution is in progress")
  and network errors (a refused connection, or one closed without an answer) retry with exponential
  backoff; the whole call, polling included, is bounded by the target's ``deadline_s`` (plus an
  accept's wait). Any other 409 (a VM that is not running: ``OperationNotAllowed``) stops at once
  with ARM's code and message in one line.
- The long-running operation is ARM's (202, ``Azure-AsyncOperation`` and ``Location``; see
  ``tests/fixtures/recorded/azure``), driven by the SDK's poller (``Retry-After``, else the target's
  ``polling_interval_s`` between looks); an operation that ends ``Failed``
  or ``Canceled`` is one line with the error code and message from its status body.
- A slow call is named by its cause (``_activity``, the VM's instance view): the deadline passed
  with the run in progress, the in-progress 409 outlasted it, or the run failed: "the VM agent is
  not ready (since …)" or "another Run Command has been running since …"; the advice never names
  a command that would meet the same 409.
- TLS trust is the SDK's: the system store, ``REQUESTS_CA_BUNDLE``, or an injected
  ``connection_verify`` (tests); the credential, clock and sleep are injectable too.
- The SDK's own log records never reach the terminal unless the process configured logging: a
  failed credential is our one line, not azure-identity's warnings on stderr.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from release.errors import BAD_INPUT, CHECK_FAILED, ReleaseError
from release.outside.remote._activity import RUN_LIMIT, look_up
from release.outside.remote._runscript import build_script, read_answer
from release.outside.remote._staging import (
    MAX_PARTS,
    MAX_SCRIPT_BYTES,
    SAFE_SCRIPT_BYTES,
    script_size,
    sha256_of,
    split_payload,
    stage_script,
    too_long,
)
from release.outside.remote.base import Document
from schemas import AcceptReport, Bundle, PlanDocument, StageReport, Status, Target
from schemas.target import AzureRemote as AzureRemoteConfig

__all__ = ["AzureRemote"]


# ARM's answer while another Run Command runs on the VM (recorded: Azure/azure-cli issue #32305).
_IN_PROGRESS = "run command extension execution is in progress"


def _arm_error(exc: BaseException) -> tuple[str, str]:
    """(code, message) of ARM's error body (a 4xx, or a failed operation's status), else ("", first line)."""
    error = getattr(exc, "error", None)
    code = str(getattr(error, "code", "") or "")
    message = str(getattr(error, "message", "") or "")
    if not code and not message:
        return "", _first_line(exc)
    return code, " ".join(message.split())[:300]


def _conflict(exc: BaseException) -> bool:
    return isinstance(exc, ResourceExistsError) or (
        isinstance(exc, HttpResponseError) and exc.status_code == 409
    )


def _in_progress(exc: BaseException) -> bool:
    """409 because another Run Command is in progress on the VM (the only 409 worth waiting out)."""
    return _conflict(exc) and _IN_PROGRESS in _arm_error(exc)[1].lower()


def _operation_status(exc: BaseException) -> str | None:
    """``Failed`` or ``Canceled`` when the poller read that status body; None for any other error."""
    response = getattr(exc, "response", None)
    if response is None or getattr(response, "status_code", None) != 200:
        return None
    try:
        document = json.loads(response.text())
    except (ValueError, TypeError, AttributeError):
        return None
    status = document.get("status") if isinstance(document, dict) else None
    return status if status in ("Failed", "Canceled") else None


def _busy(exc: BaseException) -> bool:
    """Worth another attempt: the VM is busy, or the network (or ARM) dropped the call."""
    return _in_progress(exc) or isinstance(exc, ServiceRequestError | ServiceResponseError)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _quiet_sdk_logs() -> None:
    # With no handler anywhere, Python prints WARNING records through its last-resort handler, so
    # azure-identity would add its own lines to ours. A NullHandler on "azure" is the library
    # convention the SDK skips; handlers a process configures on the root still get the records.
    sdk = logging.getLogger("azure")
    if not any(isinstance(handler, logging.NullHandler) for handler in sdk.handlers):
        sdk.addHandler(logging.NullHandler())


class AzureRemote:
    """``Remote`` over Azure Run Command on the target's VM."""

    def __init__(
        self,
        target: Target,
        *,
        credential: TokenCredential | None = None,
        environ: Mapping[str, str] | None = None,
        connection_verify: str | bool | None = None,
        polling_interval_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_parts: int = MAX_PARTS,
    ) -> None:
        if not isinstance(target.remote, AzureRemoteConfig):
            raise ReleaseError(f"target {target.name!r}: AzureRemote needs remote.kind 'azure'")
        self._config: AzureRemoteConfig = target.remote
        self._group = target.release_target.azure.resource_group
        self._vm = target.release_target.azure.vm_name
        self._credential = credential
        self._environ = environ if environ is not None else os.environ
        self._verify = connection_verify
        self._polling_interval_s = (
            polling_interval_s if polling_interval_s is not None else self._config.polling_interval_s
        )
        self._sleep = sleep
        self._clock = clock
        self._max_parts = max_parts
        self._client: Any = None

    def describe(self) -> str:
        return f"Azure VM {self._group}/{self._vm} via Run Command (reconciler {self._config.reconciler_cli})"

    def _compute(self) -> Any:
        if self._client is None:
            _quiet_sdk_logs()
            subscription = self._environ.get(self._config.subscription_id_env, "").strip()
            if not subscription:
                raise ReleaseError(f"no Azure subscription: set ${self._config.subscription_id_env}")
            from azure.mgmt.compute import ComputeManagementClient

            arm = str(self._config.arm_url).rstrip("/")
            options: dict[str, Any] = {"retry_total": 2, "connection_timeout": 30, "read_timeout": 120}
            if self._verify is not None:
                options["connection_verify"] = self._verify
            self._client = ComputeManagementClient(
                self._make_credential(),
                subscription,
                base_url=arm,
                credential_scopes=[f"{arm}/.default"],
                polling_interval=self._polling_interval_s,
                **options,
            )
        return self._client

    def _make_credential(self) -> TokenCredential:
        if self._credential is not None:
            return self._credential
        import azure.identity as identity

        kind = self._config.credential
        if kind == "cli":
            return identity.AzureCliCredential()
        if kind == "environment":
            return identity.EnvironmentCredential()
        if kind == "managed_identity":
            return identity.ManagedIdentityCredential()
        return identity.DefaultAzureCredential()

    def _script(self, command: str, args: list[str], stdin: str | None = None) -> list[str]:
        config = self._config
        return build_script(
            config.reconciler_cli,
            config.reconciler_config,
            command,
            args,
            stdin,
            user=config.reconciler_user,
        )

    def _run(
        self,
        command: str,
        script: list[str],
        model: type[Document],
        extra_s: float = 0.0,
    ) -> Document:
        """One Run Command of ``script``; the RESULT document it printed, as ``model``."""
        from azure.mgmt.compute.models import RunCommandInput

        size = script_size(script)
        if size > SAFE_SCRIPT_BYTES:
            # The extension would not even write it, and still answer "succeeded" (module Rules).
            raise ReleaseError(
                f"the {command} script is {size:,} bytes of base64, over the {SAFE_SCRIPT_BYTES >> 10} KiB "
                f"one Run Command carries (the extension's limit is {MAX_SCRIPT_BYTES >> 10} KiB)",
                BAD_INPUT,
            )
        parameters = RunCommandInput(command_id="RunShellScript", script=script)
        deadline = self._clock() + self._config.deadline_s + extra_s

        def attempt() -> Any:
            poller = self._compute().virtual_machines.begin_run_command(self._group, self._vm, parameters)
            result = poller.result(timeout=max(1.0, deadline - self._clock()))
            if not poller.done():
                raise self._still_running(command)
            return result

        def stop(state: RetryCallState) -> bool:
            return self._clock() >= deadline

        retrying: Retrying = Retrying(
            retry=retry_if_exception(_busy),
            stop=stop,
            wait=wait_exponential_jitter(multiplier=2, max=30),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            result = retrying(attempt)
        except AzureError as exc:
            # Every SDK failure, including a connection ARM closed without an answer
            # (ServiceResponseError), ends as one line, never a traceback.
            raise self._failure(command, exc) from None
        statuses = list(getattr(result, "value", None) or [])
        return read_answer(str(statuses[0].message or "") if statuses else "", command, self._vm, model)

    def _activity(self) -> str | None:
        return look_up(self._compute(), self._group, self._vm)

    def _still_running(self, command: str) -> ReleaseError:
        """The deadline passed with the operation in progress: what the VM says holds it up."""
        cause = self._activity() or "it may still be running"
        return ReleaseError(
            f"Run Command {command} on {self._vm} did not finish within {self._config.deadline_s:.0f} s: "
            f"{cause} ({RUN_LIMIT}); retry after it ends, not at once: a new Run Command meets the same "
            f"wait (`az vm get-instance-view -g {self._group} -n {self._vm}` shows it)",
            CHECK_FAILED,
        )

    def _failure(self, command: str, exc: BaseException) -> ReleaseError:
        where = f"{self._group}/{self._vm}"
        if isinstance(exc, ClientAuthenticationError):
            return ReleaseError(
                f"Azure credential ({self._config.credential}) failed: {_first_line(exc)}; "
                "sign in (`az login`) or fix the identity settings",
                BAD_INPUT,
            )
        if isinstance(exc, ResourceNotFoundError):
            return ReleaseError(f"VM {where} not found in the subscription: check the target", BAD_INPUT)
        if _in_progress(exc):
            cause = self._activity() or "another Run Command in progress"
            return ReleaseError(
                f"VM {where} stayed busy for {self._config.deadline_s:.0f} s: {cause} ({RUN_LIMIT}); "
                f"retry after it ends (`az vm get-instance-view -g {self._group} -n {self._vm}` shows it)",
                CHECK_FAILED,
            )
        code, message = _arm_error(exc)
        if _conflict(exc):
            return ReleaseError(f"Run Command on VM {where} refused (409 {code}): {message}", CHECK_FAILED)
        outcome = _operation_status(exc)
        if outcome is not None:
            verb = "failed" if outcome == "Failed" else "was canceled"
            found = self._activity() if outcome == "Failed" else None
            return ReleaseError(
                f"Run Command {command} on VM {where} {verb} ({code}): {message}"
                + (f"; {found}" if found else ""),
                CHECK_FAILED,
            )
        status = getattr(exc, "status_code", None)
        if status == 403:
            return ReleaseError(
                f"the Azure identity may not run commands on VM {where} (403): grant it "
                "Microsoft.Compute/virtualMachines/runCommand/action",
                BAD_INPUT,
            )
        return ReleaseError(f"Run Command {command} on VM {where} failed: {_first_line(exc)}", CHECK_FAILED)

    def accept(self, bundle: Bundle, *, wait_s: float = 0.0) -> AcceptReport:
        # On stdin (a here-document in the script), every field present: a null removes a desired file.
        args = ["--wait", f"{wait_s:g}"] if wait_s > 0 else []
        payload = bundle.model_dump_json()
        script = self._script("accept", args, stdin=payload)
        if script_size(script) <= SAFE_SCRIPT_BYTES:
            return self._run("accept", script, AcceptReport, extra_s=wait_s)
        return self._accept_staged(payload, args, wait_s)

    def _accept_staged(self, payload: str, args: list[str], wait_s: float) -> AcceptReport:
        """A bundle too long for one script: staged in parts by root, then accepted whole."""
        directory, sha256, count = self.stage(payload)
        staged = [*args, "--staged", directory, "--parts", str(count), "--sha256", sha256]
        return self._run("accept", self._script("accept", staged), AcceptReport, extra_s=wait_s)

    def stage(self, payload: str) -> tuple[str, str, int]:
        """Write ``payload`` (one line) into the staging directory in parts, one Run Command each:
        (directory, its sha256, the number of parts). Refused past ``max_parts``."""
        parts = split_payload(payload)
        if len(parts) > self._max_parts:
            raise too_long(payload, len(parts), self._max_parts)
        sha256, directory = sha256_of(payload), self._config.staging_dir
        for index, part in enumerate(parts):
            self._run("stage", stage_script(directory, sha256, index, len(parts), part), StageReport)
        return directory, sha256, len(parts)

    def run_script(
        self, command: str, script: list[str], model: type[Document], extra_s: float = 0.0
    ) -> Document:
        """One Run Command of a whole ``script`` (``vm.*``'s); its last RESULT line as ``model``."""
        return self._run(command, script, model, extra_s=extra_s)

    def status(self) -> Status:
        return self._run("status", self._script("status", ["--result"]), Status)

    def diff(self) -> PlanDocument:
        return self._run("diff", self._script("diff", ["--result"]), PlanDocument)
