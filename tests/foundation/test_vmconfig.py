"""The one reader of ``update.default_version``/``default_build`` and the one reader of the beta gate."""

from __future__ import annotations

import pytest

from schemas.vmconfig import UpdateKeys, UpdateKeysError, gate_value, read_gate, read_update_keys


def test_both_keys_and_the_feed_only_ones_are_read() -> None:
    data = (
        b"# server team's comment\nupdate:\n  default_version: '2.0.0.15'\n  default_build: 2.0.0.16\n"
        b"  appcast_title: Nexy Updates\n  minimum_system_version: 13.0\n"
    )
    assert read_update_keys(data) == UpdateKeys("2.0.0.15", "2.0.0.16", "Nexy Updates", "13.0")


def test_a_missing_build_stays_missing_and_is_not_taken_from_the_version() -> None:
    keys = read_update_keys(b'update:\n  default_version: "2.0.0.15"\n')
    assert (keys.version, keys.build, keys.has_block) == ("2.0.0.15", None, True)


def test_merge_keys_read_like_plain_ones() -> None:
    data = b'base: &b\n  default_version: "2.0.0.14"\n  default_build: "2.0.0.14"\nupdate:\n  <<: *b\n'
    assert (read_update_keys(data).version, read_update_keys(data).build) == ("2.0.0.14", "2.0.0.14")


def test_no_update_block_reads_as_nothing_set() -> None:
    assert read_update_keys(b"hosts: [a]\n") == UpdateKeys(None, None, has_block=False)
    assert read_update_keys(b"update: 3\n").has_block is False


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"update: [1, 2", "not valid YAML (ParserError at line 1)"),
        (b"update: " + b"[" * 20_000, "nested deeper than 64 levels (line 1)"),
        (b"- a\n- list\n", "top level is not a mapping"),
        (b"update:\n  default_version: [secret-ish, value]\n", "update.default_version is not a scalar"),
        (b"b: &b {x: 1}\nupdate:\n  default_build: *b\n", "update.default_build is not a scalar"),
    ],
)
def test_unusable_yaml_is_one_line_without_file_values(data: bytes, message: str) -> None:
    with pytest.raises(UpdateKeysError) as caught:
        read_update_keys(data)
    assert str(caught.value) == message and b"secret" not in str(caught.value).encode()


def test_an_odd_title_is_not_used_and_does_not_stop_the_owned_keys() -> None:
    keys = read_update_keys(b'update:\n  default_version: "2.0.0.15"\n  appcast_title: [a, b]\n')
    assert keys.version == "2.0.0.15" and keys.title is None


@pytest.mark.parametrize(
    ("data", "value", "enabled", "problem"),
    [
        (b"", None, False, False),
        (b"OTHER=1\n", None, False, False),
        (b'UPDATE_BETA_ENABLED="TRUE"  # open\n', "true", True, False),
        (b"UPDATE_BETA_ENABLED=true\r\nUPDATE_BETA_ENABLED=false\r\n", "false", False, False),
        (b"# UPDATE_BETA_ENABLED=true\nUPDATE_BETA_ENABLED=false\n", "false", False, False),
        (b"UPDATE_BETA_ENABLED= Yes \n", "yes", False, True),
    ],
)
def test_the_gate_reading(data: bytes, value: str | None, enabled: bool, problem: bool) -> None:
    assert gate_value(data) == value
    reading = read_gate(data)
    assert reading.enabled is enabled and (reading.problem is not None) is problem
    if problem:
        assert reading.problem == "config.env: UPDATE_BETA_ENABLED is neither true nor false"
