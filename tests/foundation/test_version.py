"""Sparkle's comparator, checked on Sparkle's own test vectors (SUVersionComparisonTest.m)."""

from __future__ import annotations

import pytest

from schemas.version import compare_versions, parse_version

ASCENDING = [
    # testNumbers
    ("1.0", "1.1"),
    ("1.1", "2.0"),
    ("0.0.1", "0.1"),
    ("0.1", "0.1.2"),
    # testCommitSHAs
    ("1.5.5-335d3e2", "1.5.6-b252311"),
    # testPrereleases
    ("1.5.5", "1.5.6a1"),
    ("1.1.0b1", "1.1.0b2"),
    ("1.1.1b2", "1.1.2b1"),
    ("1.1.1b2", "1.1.2a1"),
    ("1.0a1", "1.0b1"),
    ("1.0b1", "1.0"),
    ("0.9", "1.0a1"),
    ("1.0b", "1.0b2"),
    ("1.0b10", "1.0b11"),
    ("1.0b9", "1.0b10"),
    ("1.0rc", "1.0"),
    ("1.0b", "1.0"),
    ("1.0pre1", "1.0"),
    # testVersionsWithBuildNumbers
    ("1.0 (1234)", "1.0 (1235)"),
    ("1.0b1 (1234)", "1.0 (1234)"),
    ("1.0b5 (1234)", "1.0b5 (1235)"),
    ("1.0b5 (1234)", "1.0.1b5 (1234)"),
    ("1.0.1b5 (1234)", "1.0.1b6 (1234)"),
    ("2.0.0.2429", "2.0.0.2430"),
    ("1.1.1.1818", "2.0.0.2430"),
    ("3.3 (5847)", "3.3.1b1 (5902)"),
    # testVersionsWithReverseDateBasedNumbers
    ("201210251627", "201211051041"),
    # the four-part versions this project ships
    ("2.0.0.9", "2.0.0.15"),
    ("2.0.0.14", "2.0.0.15"),
    ("1.9.9.99", "2.0.0.0"),
]

EQUAL = [
    ("1.0", "1.0"),
    ("1.0", "1.0.0"),
    ("1.5.5-335d3e2", "1.5.5-a655360"),
    ("1.5-335d3e2", "1.5.0-335d3e2"),
    ("1.0pre1", "1.0.0pre1"),
    ("3.3 (5847)", "3.3.0 (5847)"),
    ("1.1.1.1818", "1.1.1.1818.0"),
    ("3.3b1 (5902)", "3.3.0b1 (5902)"),
    ("201210251627.0", "201210251627"),
    ("2.0.0.15", "2.0.0.15"),
    ("2.0.0.15-hotfix", "2.0.0.15"),
]


@pytest.mark.parametrize(("older", "newer"), ASCENDING)
def test_ascending_both_ways(older: str, newer: str) -> None:
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1


@pytest.mark.parametrize(("a", "b"), EQUAL)
def test_equal_both_ways(a: str, b: str) -> None:
    assert compare_versions(a, b) == 0
    assert compare_versions(b, a) == 0


def test_four_part_numeric_not_lexical() -> None:
    assert compare_versions("2.0.0.15", "2.0.0.9") == 1
    assert sorted(["2.0.0.9", "2.0.0.15", "2.0.0.10"], key=_key) == ["2.0.0.9", "2.0.0.10", "2.0.0.15"]


def _key(version: str) -> object:
    import functools

    return functools.cmp_to_key(compare_versions)(version)


def test_empty_strings() -> None:
    assert compare_versions("", "") == 0
    assert compare_versions("", "1") == -1


@pytest.mark.parametrize("good", ["0.0.0.0", "2.0.0.15", "10.20.30.40"])
def test_parse_version_accepts(good: str) -> None:
    assert parse_version(good) == good


@pytest.mark.parametrize(
    "bad", ["2.0.0", "2.0.0.15.1", "02.0.0.1", "2.0.0.x", "../../x", "2.0.0.1/..", "2.0.0.-1", " 2.0.0.1", ""]
)
def test_parse_version_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match=r"X\.Y\.Z\.W"):
        parse_version(bad)


def test_huge_numeric_parts_saturate_like_long_long_value() -> None:
    # Python's int() refuses more than 4,300 digits; NSString.longLongValue saturates at LLONG_MAX.
    huge = "9" * 5000
    assert compare_versions(huge, "1") == 1
    assert compare_versions(huge, "9" * 4400) == 0
    assert compare_versions("9223372036854775807", huge) == 0
    assert compare_versions("1." + huge, "1.2") == 1


def test_control_characters_are_text_not_whitespace() -> None:
    # NSCharacterSet.whitespaceAndNewlineCharacterSet is Z* plus U+0009-U+000D and U+0085; the
    # information separators U+001C-U+001F (which str.isspace() accepts) are text to Sparkle.
    assert compare_versions("1.0\x1c", "1.0") == -1
    assert compare_versions("1.0\t", "1.0") == 1
    assert compare_versions("1.0\u2028", "1.0") == 1
