"""``parse_result_line``: the one reader of the reconciler's ``RESULT {json}`` answer, for both remotes."""

from __future__ import annotations

import json

import pytest

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.remote._runscript import read_answer
from release.outside.remote.base import ResultLineError, parse_result_line
from schemas import MAX_RESULT_BYTES, AcceptReport, PlanDocument, Status

OK = '{"ok":true,"changed":["manifest.json"],"desired_digest":"abc"}'


def test_the_last_result_line_wins_and_diagnostics_are_ignored() -> None:
    output = (
        'RESULT {"ok":false,"error":"first try"}\n'
        "some diagnostics\n"
        f"RESULT {OK}\n"
        "trailing noise that is not a result\n"
    )
    report = parse_result_line(output, AcceptReport, "accept")
    assert report == AcceptReport(ok=True, changed=["manifest.json"], desired_digest="abc")


@pytest.mark.parametrize(
    "output",
    ["", "nothing here\n", '{"ok":true}\n', ' RESULT {"ok":true}\n', 'RESULT{"ok":true}\n'],
    ids=["empty", "text", "bare json", "indented", "no space"],
)
def test_no_result_line_is_one_error(output: str) -> None:
    with pytest.raises(ResultLineError) as caught:
        parse_result_line(output, AcceptReport, "accept")
    assert caught.value.kind == "missing" and caught.value.code == CHECK_FAILED
    assert str(caught.value) == "the VM gave no RESULT line: the reconciler CLI did not finish"


@pytest.mark.parametrize("line", ["RESULT {not json", "RESULT [1, 2]", 'RESULT "ok"', "RESULT null"], ids=str)
def test_garbage_is_refused_even_after_a_good_line(line: str) -> None:
    # A broken last answer is never replaced by an earlier one: that one may be stale.
    with pytest.raises(ResultLineError) as caught:
        parse_result_line(f"RESULT {OK}\n{line}\n", AcceptReport, "accept")
    assert caught.value.kind == "garbled"
    assert str(caught.value) == "reconciler accept: the RESULT line is not a JSON object"


def test_an_oversized_result_is_refused_before_it_is_parsed() -> None:
    padding = "x" * MAX_RESULT_BYTES
    with pytest.raises(ResultLineError) as caught:
        parse_result_line(f'RESULT {{"ok":false,"error":"{padding}"}}\n', AcceptReport, "accept")
    assert caught.value.kind == "garbled" and f"over {MAX_RESULT_BYTES} bytes" in str(caught.value)


def test_a_result_of_the_wrong_shape_names_the_model_and_field() -> None:
    with pytest.raises(ReleaseError) as caught:
        parse_result_line(f"RESULT {OK}\n", PlanDocument, "diff")
    assert not isinstance(caught.value, ResultLineError) and caught.value.code == CHECK_FAILED
    assert str(caught.value).startswith("reconciler diff printed a RESULT that does not match PlanDocument (")
    with pytest.raises(ReleaseError, match=r"does not match AcceptReport \(resources\.stable: "):
        parse_result_line('RESULT {"ok":true,"resources":{"stable":"drift"}}', AcceptReport, "accept")


def test_the_scripts_own_answer_is_reported_with_the_last_stderr_line() -> None:
    wrapped = {
        "ok": False,
        "script": "nexy-release",
        "error": "reconciler status exited 127 without its answer",
    }
    with pytest.raises(ResultLineError) as caught:
        parse_result_line("RESULT " + json.dumps(wrapped), Status, "status")
    assert caught.value.kind == "wrapper" and str(caught.value) == wrapped["error"]
    message = (
        f"Enable succeeded: \n[stdout]\nRESULT {json.dumps(wrapped)}\n\n[stderr]\nsh: 1: nexy: not found\n"
    )
    with pytest.raises(ReleaseError) as answer:
        read_answer(message, "status", "NexyNew", Status)
    assert str(answer.value) == (
        "reconciler status on NexyNew: reconciler status exited 127 without its answer: sh: 1: nexy: not found"
    )
