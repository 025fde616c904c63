"""The audit log and the workstation lock."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.errors import CHECK_FAILED, ReleaseError
from release.parts.journal import append_entry, log_path, read_entries, who, workstation_lock
from schemas import Channel, ReleaseLogEntry, Target, utcnow

from .helpers import sandbox_target


@pytest.fixture
def target(tmp_path: Path) -> Target:
    return sandbox_target(tmp_path)


def test_entries_append_one_line_each(target: Target) -> None:
    for result in ("ok", "skip"):
        append_entry(
            target,
            ReleaseLogEntry(at=utcnow(), who=who(), task="promote", result=result, channel=Channel.STABLE),
        )
    lines = log_path(target).read_text().splitlines()
    assert len(lines) == 2
    assert [entry.result for entry in read_entries(target)] == ["ok", "skip"]


def test_who_is_a_plain_name() -> None:
    name = who()
    assert name and "\n" not in name and len(name) <= 80


def test_second_state_change_stops_with_a_clear_line(target: Target) -> None:
    with workstation_lock(target, "publish"):
        with pytest.raises(ReleaseError) as caught, workstation_lock(target, "promote"):
            pass
        assert caught.value.code == CHECK_FAILED
        message = str(caught.value)
        assert "another release task is running (publish, pid" in message
        assert "run promote again" in message
    with workstation_lock(target, "promote"):
        pass


@pytest.mark.parametrize("error", [RuntimeError("boom"), ValueError("bad"), SystemExit(3)])
def test_a_state_change_that_dies_of_anything_is_journaled_failed(
    target: Target, error: BaseException
) -> None:
    """Not only the expected errors: whatever stops a task midway, its line must not say "ok"."""
    from release.parts.session import Session

    def die_midway() -> None:
        with Session(target, "promote").change() as change:
            change.version = "2.0.0.16"
            raise error

    with pytest.raises(type(error)):
        die_midway()
    entry = read_entries(target)[-1]
    assert (entry.task, entry.result, entry.version) == ("promote", "failed", "2.0.0.16")
    assert entry.detail
