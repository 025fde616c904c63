"""Version rules shared by every side.

Rules:
- A release version is strict ``X.Y.Z.W``: four non-negative integers without leading zeros.
  It names files on the VM (``manifest_<version>.json``), so it can never carry ``/`` or ``..``.
- Every "is this newer" question is answered by :func:`compare_versions`, a faithful port of
  Sparkle 2's ``SUStandardVersionComparator``: what clients do is what we check.
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["VERSION_RE", "Version", "compare_versions", "parse_version"]

VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){3}$")


def parse_version(value: str) -> str:
    """Return ``value`` if it is a strict X.Y.Z.W version, else raise ValueError."""
    if not isinstance(value, str) or not VERSION_RE.fullmatch(value):
        raise ValueError(
            f"version {value!r} is not X.Y.Z.W (four numbers without leading zeros, e.g. 2.0.0.15)"
        )
    return value


Version = Annotated[str, AfterValidator(parse_version)]


class _Kind(Enum):
    NUMBER = 0
    STRING = 1
    PERIOD = 2
    PUNCTUATION = 3
    WHITESPACE = 4
    DASH = 5


_SEPARATORS = {_Kind.PERIOD, _Kind.PUNCTUATION, _Kind.WHITESPACE}
# NSCharacterSet.whitespaceAndNewlineCharacterSet beyond Z*: not str.isspace(), which adds U+001C-1F.
_NEWLINES_AND_TABS = frozenset("\t\n\x0b\x0c\r\x85")


def _kind(part: str) -> _Kind:
    # Sparkle classifies a part by its first character, with NSCharacterSet classes.
    ch = part[0]
    if ch == ".":
        return _Kind.PERIOD
    if ch == "-":
        return _Kind.DASH
    category = unicodedata.category(ch)
    if category == "Nd":
        return _Kind.NUMBER
    if ch in _NEWLINES_AND_TABS or category in ("Zs", "Zl", "Zp"):
        return _Kind.WHITESPACE
    if category.startswith("P"):
        return _Kind.PUNCTUATION
    return _Kind.STRING


def _split(version: str) -> list[str]:
    if not version:
        return []
    parts: list[str] = []
    current = version[0]
    old = _kind(current)
    for ch in version[1:]:
        new = _kind(ch)
        if new is _Kind.DASH:
            break  # Sparkle ignores everything from a dash on (commit hashes, build metadata)
        if old is not new or old in _SEPARATORS:
            parts.append(current)
            current = ch
        else:
            current += ch
        old = new
    parts.append(current)
    return parts


def _leading_number_and_period_count(parts: list[str]) -> int:
    count = 0
    for part in parts:
        if _kind(part) not in (_Kind.NUMBER, _Kind.PERIOD):
            break
        count += 1
    return count


def _balance(a: list[str], b: list[str]) -> None:
    # Pads the shorter numeric prefix with ".0" so that 1.0 equals 1.0.0, as Sparkle 2 does.
    count_a, count_b = _leading_number_and_period_count(a), _leading_number_and_period_count(b)
    short, long_, short_count, long_count = (
        (b, a, count_b, count_a) if count_a > count_b else (a, b, count_a, count_b)
    )
    for index in range(short_count, long_count):
        short.insert(index, "." if _kind(long_[index]) is _Kind.PERIOD else "0")


_LLONG_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]*")


def _number(part: str) -> int:
    # NSString.longLongValue reads leading ASCII digits only and saturates instead of overflowing;
    # int() would raise past 4,300 digits (and read other scripts' digits).
    digits = _ASCII_DIGITS.match(part)
    text = (digits.group() if digits else "").lstrip("0")
    if len(text) > len(str(_LLONG_MAX)):
        return _LLONG_MAX
    return min(int(text or "0"), _LLONG_MAX)


def compare_versions(a: str, b: str) -> int:
    """Compare two Sparkle versions: -1 if ``a`` is older, 0 if equal, 1 if ``a`` is newer."""
    parts_a, parts_b = _split(a), _split(b)
    _balance(parts_a, parts_b)
    for part_a, part_b in zip(parts_a, parts_b, strict=False):
        kind_a, kind_b = _kind(part_a), _kind(part_b)
        same_class = kind_a is kind_b or (kind_a in _SEPARATORS and kind_b in _SEPARATORS)
        if same_class:
            if kind_a is _Kind.NUMBER:
                value_a, value_b = _number(part_a), _number(part_b)
                if value_a != value_b:
                    return 1 if value_a > value_b else -1
            elif kind_a is _Kind.STRING and part_a != part_b:
                return 1 if part_a > part_b else -1
        elif kind_a is not _Kind.STRING and kind_b is _Kind.STRING:
            return 1
        elif kind_a is _Kind.STRING and kind_b is not _Kind.STRING:
            return -1
        else:
            # A number against a separator: the separator is the invalid one.
            return 1 if kind_a is _Kind.NUMBER else -1
    if len(parts_a) == len(parts_b):
        return 0
    longer_is_a = len(parts_a) > len(parts_b)
    missing = (parts_a if longer_is_a else parts_b)[min(len(parts_a), len(parts_b))]
    if _kind(missing) is _Kind.STRING:
        return -1 if longer_is_a else 1  # a trailing text part (b1, rc) makes a version older
    return 1 if longer_is_a else -1
