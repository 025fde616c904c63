"""Run Command's real limits, held against the fake that models them from the extension's source.

Azure/run-command-extension-linux main/cmds.go: ``maxScriptSize = 256 * 1024`` on the base64
script (over it nothing runs, yet the answer is "Enable succeeded" with empty streams) and
``maxTailLen = 4 * 1024`` bytes per stream; Run Command's 90-minute limit ends a run ``Failed``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from azure.mgmt.compute.models import RunCommandInput

from release.errors import ReleaseError
from release.outside.remote._staging import SAFE_SCRIPT_BYTES
from release.outside.remote.azure import AzureRemote
from schemas import Bundle, Status, atomic_write, utcnow
from tests.fakes.azure import MAX_SCRIPT, FakeAzure
from tests.foundation.test_fit import worst_status
from tests.reconciler.helpers import bundle as make_bundle

MakeRemote = Callable[..., AzureRemote]
pytestmark = pytest.mark.timeout(180)


def cyrillic_bundle(beta_chars: int = 65_536, stable_chars: int = 65_536) -> Bundle:
    """The issue's case: two manifests of Cyrillic release notes, a 352,556-byte base64 script."""
    b = make_bundle()
    assert b.stable is not None and b.beta is not None
    return b.model_copy(
        update={
            "stable": b.stable.model_copy(update={"release_notes": "ж" * stable_chars}),
            "beta": b.beta.model_copy(update={"release_notes": "ж" * beta_chars}),
        }
    )


def _committed(azure: FakeAzure) -> dict[str, object]:
    return json.loads((azure.vm_root.parent / "vm-state/desired/bundle.json").read_bytes())


def test_the_fake_answers_an_oversized_script_as_the_extension_does(
    make_remote: MakeRemote, azure: FakeAzure
) -> None:
    """Over maxScriptSize the script is never written, and Run Command still says it succeeded."""
    remote = make_remote()
    script = ["#!/bin/sh", "echo ran > ran.txt", "# " + "x" * (MAX_SCRIPT * 3 // 4)]
    poller = remote._compute().virtual_machines.begin_run_command(
        "NexyNewRG", "NexyNew", RunCommandInput(command_id="RunShellScript", script=script)
    )
    result = poller.result(timeout=60)
    assert result.value[0].message == "Enable succeeded: \n[stdout]\n\n[stderr]\n"
    assert azure.script_sizes[-1] > MAX_SCRIPT and not (azure.vm_root / "ran.txt").exists()


def test_a_bundle_over_the_script_limit_is_staged_in_parts(make_remote: MakeRemote, azure: FakeAzure) -> None:
    b = cyrillic_bundle()
    report = make_remote().accept(b)
    assert report.ok and report.desired_digest == b.digest()
    # Never one script over the safe margin; the parts and the accept are separate Run Commands.
    assert max(azure.script_sizes) <= SAFE_SCRIPT_BYTES < MAX_SCRIPT
    assert azure.posts == 3
    assert Bundle.model_validate(_committed(azure)).digest() == b.digest()
    stage = azure.vm_root.parent / "vm-stage"
    # The parts stay for a re-sent accept; the next staging removes them.
    assert len(list(stage.iterdir())) == 2
    assert stage.stat().st_mode & 0o777 == 0o755


def test_a_staged_part_delivered_twice_is_harmless(make_remote: MakeRemote, azure: FakeAzure) -> None:
    azure.deliver_twice = True
    b = cyrillic_bundle()
    assert make_remote().accept(b).ok
    assert Bundle.model_validate(_committed(azure)).digest() == b.digest()


def test_a_bundle_needing_too_many_parts_is_refused_naming_the_field(
    make_remote: MakeRemote, azure: FakeAzure
) -> None:
    remote = make_remote(max_parts=1)
    with pytest.raises(ReleaseError) as caught:
        remote.accept(cyrillic_bundle(stable_chars=60_000))
    message = str(caught.value)
    assert "\n" not in message and caught.value.code == 2
    assert "release_notes of beta is 131,074 bytes" in message
    assert "at most 1 are sent" in message and "256 KiB" in message and "224 KiB" in message
    assert azure.posts == 0  # nothing sent, nothing changed


def test_the_worst_status_comes_back_through_the_4_kb_tail(make_remote: MakeRemote, azure: FakeAzure) -> None:
    remote = make_remote()
    remote.status()  # lays out the VM tree and its state directory
    # A fresh status.json (a live pid, written now) is what `status` answers with.
    worst = worst_status().model_copy(update={"pid": os.getpid(), "updated_at": utcnow()})
    atomic_write(azure.vm_root.parent / "vm-state/status.json", worst.model_dump_json().encode())
    status = remote.status()
    assert isinstance(status, Status) and status.resources.keys() == worst.resources.keys()
    assert status.env_keys == worst.env_keys


def test_a_run_past_the_run_limit_ends_failed_never_in_progress(
    make_remote: MakeRemote, azure: FakeAzure, tmp_path: Path
) -> None:
    remote = make_remote()
    remote.status()
    cli = azure.vm_root / "opt/bin/nexy-reconciler"
    cli.write_text("#!/bin/sh\nsleep 120\n")
    azure.run_limit_s = 1.0  # standing for Run Command's 90 minutes
    with pytest.raises(ReleaseError) as caught:
        remote.status()
    assert str(caught.value).startswith(
        "Run Command status on VM NexyNewRG/NexyNew failed (VMExtensionProvisioningTimeout): "
        "Provisioning of VM extension 'RunCommandLinux' has timed out."
    )
    assert not azure.running() and [op["status"] for op in azure.operations.values()][-1] == "Failed"


def _wait_idle(azure: FakeAzure) -> None:
    end = time.monotonic() + 60
    while azure.running() and time.monotonic() < end:
        time.sleep(0.1)  # let the held run end before the VM tree goes away


def test_an_unready_agent_is_named_when_the_deadline_passes(
    make_remote: MakeRemote, azure: FakeAzure
) -> None:
    remote = make_remote(deadline_s=1)
    azure.agent_not_ready_s = 3.0
    azure.agent_down_since = "2026-12-06T11:40:00+00:00"
    with pytest.raises(ReleaseError) as caught:
        remote.status()
    message = str(caught.value)
    assert message.startswith(
        "Run Command status on NexyNew did not finish within 1 s: the VM agent is not ready "
        "(since 2026-12-06 11:40:00 UTC: VM Agent is unresponsive.) (Run Command ends a run after 90 minutes)"
    )
    assert "./inv status" not in message and "az vm get-instance-view -g NexyNewRG -n NexyNew" in message
    assert azure.posts == 1  # not re-sent
    _wait_idle(azure)


def test_an_unready_agent_fails_the_run_with_its_cause(make_remote: MakeRemote, azure: FakeAzure) -> None:
    """The real service accepts the POST and fails it much later (a reported case: 25 minutes)."""
    azure.agent_not_ready_s = 1.0
    with pytest.raises(ReleaseError) as caught:
        make_remote().status()
    assert str(caught.value).startswith(
        "Run Command status on VM NexyNewRG/NexyNew failed (VMAgentStatusCommunicationError): VM 'NexyNew' "
        "has not reported status for VM agent or extensions.; the VM agent is not ready (since "
    )


def test_a_busy_vm_names_the_run_in_progress_and_since_when(
    make_remote: MakeRemote, azure: FakeAzure
) -> None:
    first = make_remote()
    first.status()  # lays out the VM tree
    azure.hold_s = 5.0
    errors: list[BaseException] = []

    def run() -> None:
        try:
            first.status()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    holder = threading.Thread(target=run)
    holder.start()
    end = time.monotonic() + 30
    while not azure.running() and time.monotonic() < end:
        time.sleep(0.05)
    started = next(op["startTime"] for op in azure.operations.values() if op["status"] == "InProgress")
    with pytest.raises(ReleaseError) as caught:
        make_remote(deadline_s=1).status()
    message = str(caught.value)
    since = datetime.fromisoformat(started).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert message.startswith(
        f"VM NexyNewRG/NexyNew stayed busy for 1 s: another Run Command has been running since {since} "
        "(Run Command ends a run after 90 minutes); retry after it ends"
    )
    assert "./inv status" not in message
    holder.join(60)
    assert errors == []
