"""Untrusted documents: depth is checked without recursion; errors carry no value from the input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import Manifest
from schemas.bounded import DepthError, check_json_depth, check_yaml_depth, field_error, load_json


def test_json_depth_is_refused_before_parsing() -> None:
    with pytest.raises(DepthError, match="nested deeper than 64 levels"):
        load_json(b"[" * 100_000)
    # Brackets inside strings (and escaped quotes) do not count.
    assert load_json(b'{"a": "[[[[\\"[[[[", "b": [[1]]}') == {"a": '[[[["[[[[', "b": [[1]]}
    check_json_depth(b"[" * 64 + b"]" * 64)


def test_yaml_depth_is_refused_before_composing() -> None:
    for document in (b"a: " + b"[" * 50_000, b"- " * 50_000 + b"x", b"{a: " * 50_000):
        with pytest.raises(DepthError, match="nested deeper than 64 levels"):
            check_yaml_depth(document)
    check_yaml_depth(b"update:\n  default_version: '2.0.0.1'\n")


def test_json_errors_name_a_position_not_content() -> None:
    with pytest.raises(ValueError, match=r"^not valid JSON \(at byte 10\)$"):
        load_json(b'{"token": hunter2}')


def test_field_error_has_no_input_value_or_unknown_key() -> None:
    with pytest.raises(ValidationError) as caught:
        Manifest.model_validate({"version": "s3cr3t-value", "api_token": "s3cr3t-token"})
    message = field_error(caught.value)
    assert "s3cr3t" not in message and "api_token" not in message
    assert message.startswith("version: ") and "more)" in message
