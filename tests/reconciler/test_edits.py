"""The two in-place edits: the YAML version keys and the config.env gate line."""

from __future__ import annotations

import pytest

from reconciler.envlines import gate_value, present_keys, set_gate
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


# Shapes a server team's file really has; the edit must leave every byte but the two values alone.
YAML_SHAPES = {
    "indented block sequence": b'# c\nhosts:\n  - a\n  - b\nupdate:\n  default_version: "2.0.0.14"\n'
    b'  default_build: "2.0.0.14"\n',
    "four-space indent": b'update:\n    default_version: "2.0.0.14"\n    default_build: "2.0.0.14"\n'
    b"list:\n    - x\n",
    "document markers, tags, ~ and a folded string": b"---\nupdate:\n  default_version: '2.0.0.14'   # v\n"
    b'  default_build: 2.0.0.14\nnul: ~\ns: !!str 123\nother: {a: 1, b: [1,2]}\nlong: "a\\\n  b"\n...\n',
    "CRLF line endings": b'update:\r\n  default_version: "2.0.0.14"\r\n  default_build: "2.0.0.14"\r\nx: 1\r\n',
    "no final newline and trailing spaces": b'update:\n  default_version: "2.0.0.14"  \n'
    b'  default_build: "2.0.0.14"',
    "byte order mark": b'\xef\xbb\xbfupdate:\n  default_version: "2.0.0.14"\n  default_build: "2.0.0.14"\n',
    "flow mapping": b'update: {default_version: "2.0.0.14", default_build: "2.0.0.14"}\nz: 1\n',
}


@pytest.mark.parametrize("shape", sorted(YAML_SHAPES))
def test_yaml_edit_changes_no_other_byte(shape: str) -> None:
    data = YAML_SHAPES[shape]
    new = set_update_version(data, "2.0.0.15", "2.0.0.16")
    expected = data.replace(b'version: "2.0.0.14"', b'version: "2.0.0.15"')
    expected = expected.replace(b"version: '2.0.0.14'", b"version: '2.0.0.15'")
    expected = expected.replace(b'build: "2.0.0.14"', b'build: "2.0.0.16"')
    expected = expected.replace(b"build: 2.0.0.14", b"build: 2.0.0.16")
    assert new == expected
    assert read_update_version(new) == ("2.0.0.15", "2.0.0.16")


def test_yaml_values_from_a_merge_key_are_overridden_not_edited_at_the_anchor() -> None:
    data = b'base: &b\n  default_version: "2.0.0.14"\n  default_build: "2.0.0.14"\nupdate:\n  <<: *b\n'
    new = set_update_version(data, "2.0.0.15", "2.0.0.15")
    assert new is not None and new.startswith(data)
    assert read_update_version(new) == ("2.0.0.15", "2.0.0.15")


# (file, desired) -> expected bytes: only the value changes; quotes, spacing, comments stay.
GATE_EDITS = [
    (
        b"UPDATE_BETA_ENABLED=false # closed for 2.0.0.16\n",
        True,
        b"UPDATE_BETA_ENABLED=true # closed for 2.0.0.16\n",
    ),
    (b"UPDATE_BETA_ENABLED = false\n", True, b"UPDATE_BETA_ENABLED = true\n"),
    (b'UPDATE_BETA_ENABLED="false"\n', True, b'UPDATE_BETA_ENABLED="true"\n'),
    (b"export UPDATE_BETA_ENABLED='false'  # c\r\n", True, b"export UPDATE_BETA_ENABLED='true'  # c\r\n"),
    (b"  UPDATE_BETA_ENABLED=false\nA=1\n", True, b"  UPDATE_BETA_ENABLED=true\nA=1\n"),
    (b"\tUPDATE_BETA_ENABLED=true\n", False, b"\tUPDATE_BETA_ENABLED=false\n"),
    (b"UPDATE_BETA_ENABLED=\n", True, b"UPDATE_BETA_ENABLED=true\n"),
    (
        b"UPDATE_BETA_ENABLED=false\nUPDATE_BETA_ENABLED=false",
        True,
        b"UPDATE_BETA_ENABLED=true\nUPDATE_BETA_ENABLED=true",
    ),
]


@pytest.mark.parametrize(("data", "enabled", "expected"), GATE_EDITS)
def test_gate_edit_changes_only_the_value(data: bytes, enabled: bool, expected: bytes) -> None:
    assert set_gate(data, enabled) == expected
    assert set_gate(expected, enabled) is None


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"UPDATE_BETA_ENABLED=true # opened\n", "true"),
        (b"UPDATE_BETA_ENABLED=TRUE\n", "true"),
        (b'UPDATE_BETA_ENABLED="true"  # quoted, then a comment\n', "true"),
        (b"  export UPDATE_BETA_ENABLED = false\n", "false"),
        (b"UPDATE_BETA_ENABLED=yes\n", "yes"),
    ],
)
def test_gate_reading_agrees_with_the_feed(line: bytes, value: str) -> None:
    from schemas.vmconfig import read_gate

    assert gate_value(line) == value
    assert read_gate(line).enabled is (value == "true")
