"""Every RESULT line fits the 4,096 bytes Run Command brings back, for the worst schema-valid document.

The worst case is built from the schemas' own bounds (longest names, most entries, four-byte
characters in every free-text field), so a bound loosened without a cut in ``schemas/fit.py`` fails here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import (
    MAX_RESULT_BYTES,
    AcceptReport,
    AlertRecord,
    HealthState,
    PassRecord,
    PlanDocument,
    PlanEntry,
    ResourceState,
    Status,
    SyncState,
)
from schemas.adoption import MAX_VERSIONS, AdoptionBaseline, ChannelAdoption, ChannelChecks
from schemas.fit import cut_text, fit_result, result_line

WIDE = "\U0001d11e"  # four bytes of UTF-8 (a musical G clef): the most bytes per character
AT = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)


def _name(i: int, width: int = 32) -> str:
    return f"{i}".rjust(width, "n")


def worst_status() -> Status:
    return Status(
        updated_at=AT,
        mode="observe",
        pid=2**63 - 1,
        desired_digest="d" * 80,
        stable_version=WIDE * 64,
        beta_version=WIDE * 64,
        gate=False,
        resources={_name(i): ResourceState(sync=SyncState.DRIFTED, detail=WIDE * 160) for i in range(8)},
        health={_name(i): HealthState(ok=False, detail=WIDE * 160) for i in range(4)},
        env_keys={"K" + _name(i, 63): False for i in range(16)},
        passes=tuple(
            PassRecord(at=AT, duration_ms=1e308, result="error", changed=(WIDE * 40,) * 5) for _ in range(5)
        ),
        alerts=tuple(
            AlertRecord(at=AT, resource=_name(i), kind=_name(i), message=WIDE * 200) for i in range(5)
        ),
        adoption={
            channel: ChannelAdoption(
                now=ChannelChecks(feed=feed, at=AT, counts=_counts(), error=WIDE * 160),
                baseline=AdoptionBaseline(version="9" * 64, at=AT, counts=_counts()),
            )
            for channel, feed in (("stable", "production"), ("beta", "staging"))
        },
    )


def _counts() -> dict[str, int]:
    return {_name(i): 2**63 - 1 for i in range(MAX_VERSIONS + 1)}


def test_the_worst_status_fits_in_one_result_line() -> None:
    status = worst_status()
    assert len(status.model_dump_json().encode()) > 4 * MAX_RESULT_BYTES  # the unfitted line would be lost
    line = result_line(status)
    assert len(line.encode()) <= MAX_RESULT_BYTES < 4096
    fitted = Status.model_validate_json(line.removeprefix("RESULT "))
    # What the workstation decides on survives whole.
    assert fitted.resources.keys() == status.resources.keys()
    assert {state.sync for state in fitted.resources.values()} == {SyncState.DRIFTED}
    assert fitted.env_keys == status.env_keys and fitted.health.keys() == status.health.keys()
    assert (fitted.desired_digest, fitted.stable_version) == (status.desired_digest, status.stable_version)


def test_a_non_ascii_status_that_fits_in_characters_is_fitted_in_bytes() -> None:
    # The case: 2,900 characters of Cyrillic details and alerts are 4,496 bytes and more.
    status = worst_status().model_copy(
        update={
            "stable_version": "1.0",
            "beta_version": None,
            "resources": {
                _name(i, 6): ResourceState(sync=SyncState.ERROR, detail="ж" * 160) for i in range(5)
            },
            "health": {_name(i, 10): HealthState(ok=False, detail="ж" * 160) for i in range(2)},
            "env_keys": {"GEMINI_API_KEY": True},
            "passes": (),
            "adoption": {},
            "alerts": tuple(
                AlertRecord(at=AT, resource="gate", kind="drift:open", message="ж" * 140) for _ in range(5)
            ),
        }
    )
    assert len(status.model_dump_json()) < 2900 < MAX_RESULT_BYTES < len(status.model_dump_json().encode())
    fitted = fit_result(status)
    assert len(result_line(fitted).encode()) <= MAX_RESULT_BYTES
    assert len(fitted.alerts) == 5 and fitted.alerts[0].message.endswith("…")


def test_the_worst_accept_report_and_plan_fit() -> None:
    report = AcceptReport(
        ok=False,
        changed=[_name(i) for i in range(8)],
        desired_digest="d" * 80,
        error=WIDE * 5000,
        waited_for="daemon",
        converged=False,
        resources={_name(i): SyncState.ERROR for i in range(8)},
    )
    plan = PlanDocument(
        in_sync=False,
        desired_digest="d" * 80,
        mode="enforce",
        resources={
            _name(i): PlanEntry(
                state=SyncState.DRIFTED, expected=WIDE * 900, found=WIDE * 900, files=["/" + "p" * 300] * 20
            )
            for i in range(8)
        },
    )
    for document in (report, plan):
        line = result_line(document)
        assert len(line.encode()) <= MAX_RESULT_BYTES
        back = type(document).model_validate_json(line.removeprefix("RESULT "))
        assert back.resources.keys() == document.resources.keys()


def test_a_small_document_is_left_whole() -> None:
    report = AcceptReport(ok=True, changed=["stable"], desired_digest="d" * 64, error="é" * 10)
    assert fit_result(report) is report


@pytest.mark.parametrize(
    ("text", "budget", "cut"), [("abc", 3, "abc"), ("abcd", 3, ""), ("жжжж", 7, "жж…"), ("жжжж", 6, "ж…")]
)
def test_cut_text_counts_bytes_and_keeps_characters_whole(text: str, budget: int, cut: str) -> None:
    assert cut_text(text, budget) == cut
    assert len(cut_text(text, budget).encode()) <= budget
