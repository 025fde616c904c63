"""The documents the reconciler prints for the workstation: one model each, one sync vocabulary."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import AcceptReport, PlanDocument, Status, SyncState, utcnow
from schemas.status import ResourceState


def test_settled_is_every_state_but_drifted_and_error() -> None:
    assert {state for state in SyncState if state.settled} == {
        SyncState.IN_SYNC,
        SyncState.HEALED,
        SyncState.ABSENT,
    }
    # On the wire a state is its plain value, and a plain value reads back as the enum.
    assert json.loads(ResourceState(sync=SyncState.DRIFTED).model_dump_json()) == {
        "sync": "drifted",
        "detail": "",
    }
    assert ResourceState.model_validate({"sync": "absent"}).sync is SyncState.ABSENT


def test_the_old_plan_words_are_not_sync_states() -> None:
    for word in ("drift", "unmanaged"):
        with pytest.raises(ValidationError):
            ResourceState.model_validate({"sync": word})


def test_accept_report_round_trips_with_every_field_present() -> None:
    report = AcceptReport(
        ok=True,
        changed=["manifest.json"],
        desired_digest="d" * 64,
        waited_for="daemon",
        converged=False,
        resources={"stable": SyncState.DRIFTED, "beta": SyncState.ABSENT, "gate": SyncState.HEALED},
    )
    wire = json.loads(report.model_dump_json())
    assert wire["error"] is None and wire["daemon"] is None  # present as null, not left out
    assert AcceptReport.model_validate(wire) == report
    assert report.behind() == {"stable": SyncState.DRIFTED}


def test_accept_report_refuses_unknown_fields_and_states() -> None:
    with pytest.raises(ValidationError):
        AcceptReport.model_validate({"ok": True, "surprise": 1})
    with pytest.raises(ValidationError):
        AcceptReport.model_validate({"ok": True, "resources": {"stable": "drift"}})
    with pytest.raises(ValidationError):
        AcceptReport.model_validate({"ok": True, "daemon": "running"})


def test_plan_document_round_trips_and_names_what_is_unsettled() -> None:
    wire = {
        "in_sync": False,
        "desired_digest": "e" * 64,
        "resources": {
            "stable": {"state": "drifted", "expected": "2.0.0.15", "found": "2.0.0.14", "files": ["/m.json"]},
            "beta": {
                "state": "absent",
                "expected": "",
                "found": "no desired manifest_beta.json",
                "files": [],
            },
            "gate": {"state": "error", "expected": "", "found": "config.env is a link", "files": []},
            "legacy": {"state": "in_sync", "expected": "", "found": "", "files": []},
        },
        "mode": "observe",
    }
    plan = PlanDocument.model_validate(wire)
    assert json.loads(plan.model_dump_json()) == wire
    assert plan.unsettled() == ["gate", "stable"]
    with pytest.raises(ValidationError):
        PlanDocument.model_validate(wire | {"mode": "chaos"})


def test_status_round_trips_its_sync_states() -> None:
    status = Status(
        updated_at=utcnow(),
        mode="enforce",
        pid=7,
        desired_digest="f" * 64,
        resources={"stable": ResourceState(sync=SyncState.HEALED, detail="rewrote it")},
    )
    again = Status.model_validate_json(status.model_dump_json())
    assert again == status and again.resources["stable"].sync.settled
