"""How ``config.env`` assignments are read: the one grammar both the reconciler and the feed use.

Rules:
- A line is ``[export ]KEY=VALUE`` with optional blanks at the start and around ``=``; a line
  starting with ``#`` is a comment. VALUE is either quoted (``"…"`` or ``'…'``, the quotes are not
  part of it) or bare, and a bare value ends where `` #`` starts a shell comment.
- Lines end at ``\\n``; a ``\\r`` before it belongs to the line ending, never to the value.
- Each assignment carries the byte span of its value (inside the quotes), so an editor can replace
  the value alone and keep the quotes, the spacing, the comment and the line ending.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Assignment", "assignments"]

_LINE = re.compile(
    rb"^[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*"
    rb"(?:(?P<q>[\"'])(?P<quoted>(?:(?!(?P=q))[^\r\n])*)(?P=q)|(?P<bare>[^ \t\r\n](?:[^\r\n]*?[^ \t\r\n])?)?)"
    rb"(?:[ \t]+\#[^\r\n]*)?[ \t]*\r?$",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class Assignment:
    key: str
    value: str
    start: int
    """Byte offset of the value (inside any quotes); ``end`` is one past its last byte."""
    end: int


def assignments(data: bytes) -> Iterator[Assignment]:
    """Every active assignment in file order (a later one overrides an earlier one of the same key)."""
    for match in _LINE.finditer(data):
        group = "quoted" if match.group("q") is not None else "bare"
        raw = match.group(group)
        start = match.start(group) if raw is not None else match.end("key")
        if raw is None:
            # An empty value: the span is the empty place right after "=" and its blanks.
            raw = b""
            equals = data.index(b"=", match.end("key"))
            start = equals + 1
            while data[start : start + 1] in (b" ", b"\t"):
                start += 1
        yield Assignment(
            match.group("key").decode("ascii"), raw.decode("utf-8", "replace"), start, start + len(raw)
        )
