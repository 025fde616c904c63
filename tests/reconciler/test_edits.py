"""The two in-place edits: the YAML version keys and the config.env gate line."""

from __future__ import annotations

import pytest

from reconciler.envfile import gate_value, present_keys, set_gate
from reconciler.yamledit import YamlEditError, read_update_version, set_update_version

from .helpers import FIXTURES

YAML = (FIXTURES / "unified_config.yaml").read_bytes()
ENV = (FIXTURES / "config.env").read_bytes()


def test_yaml_only_owned_keys_change() -> None:
    new = set_update_version(YAML, "2.0.0.15", "2.0.0.16")
    assert new is not None
    old_lines, new_lines = YAML.decode().splitlines(), new.decode().splitlines()
    assert len(old_lines) == len(new_lines)
    changed = [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b]
    assert changed == [
        ('  default_version: "2.0.0.14"', '  default_version: "2.0.0.15"'),
        ('  default_build: "2.0.0.14"', '  default_build: "2.0.0.16"'),
    ]
    assert b"<<: *defaults" in new and b"voices: [alloy, verse]   # flow style kept" in new
    assert read_update_version(new) == ("2.0.0.15", "2.0.0.16")


def test_yaml_in_sync_is_not_rewritten() -> None:
    assert set_update_version(YAML, "2.0.0.14", "2.0.0.14") is None


def test_yaml_missing_update_section_is_added() -> None:
    new = set_update_version(b"# keep me\nserver: {port: 443}\n", "2.0.0.15", "2.0.0.15")
    assert new is not None and new.startswith(b"# keep me\nserver: {port: 443}\n")
    assert read_update_version(new) == ("2.0.0.15", "2.0.0.15")


@pytest.mark.parametrize("bad", [b"update: [1, 2", b"- just\n- a list\n", b"update: 3\n"])
def test_yaml_refuses_unexpected_shapes(bad: bytes) -> None:
    with pytest.raises(YamlEditError):
        set_update_version(bad, "2.0.0.15", "2.0.0.15")


def test_gate_changes_only_the_active_line() -> None:
    new = set_gate(ENV, True)
    assert new is not None
    diff = [(a, b) for a, b in zip(ENV.splitlines(), new.splitlines(), strict=True) if a != b]
    assert diff == [(b"UPDATE_BETA_ENABLED=false", b"UPDATE_BETA_ENABLED=true")]
    assert b"# UPDATE_BETA_ENABLED=true   <- an old note, not the setting" in new
    assert set_gate(ENV, False) is None
    assert gate_value(new) == "true"


def test_gate_line_added_when_missing_and_quotes_count() -> None:
    assert set_gate(b"A=1", True) == b"A=1\nUPDATE_BETA_ENABLED=true\n"
    assert (
        set_gate(b"# UPDATE_BETA_ENABLED=true\n", True)
        == b"# UPDATE_BETA_ENABLED=true\nUPDATE_BETA_ENABLED=true\n"
    )
    assert set_gate(b'UPDATE_BETA_ENABLED="true"\n', True) is None
    assert set_gate(b"A=1\r\nUPDATE_BETA_ENABLED=false\r\n", True) == b"A=1\r\nUPDATE_BETA_ENABLED=true\r\n"


def test_present_keys_reports_names_only() -> None:
    keys = present_keys(ENV + b"EMPTY=\n", ("GEMINI_API_KEY", "EMPTY", "NOPE"))
    assert keys == {"GEMINI_API_KEY": True, "EMPTY": False, "NOPE": False}
