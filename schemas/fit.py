"""Fitting a document the VM answers with into the bytes Azure Run Command brings back.

Rules:
- Run Command returns only the last ``maxTailLen`` = 4,096 bytes of stdout
  (Azure/run-command-extension-linux, main/cmds.go); a longer RESULT line loses its start and, with
  it, the ``RESULT`` prefix. Every RESULT line is therefore at most ``MAX_RESULT_BYTES`` bytes of UTF-8,
  newline excluded, by construction: ``fit_result`` is applied to every document the reconciler
  CLI prints, and the schemas bound what cannot be cut (names, digests, versions, counts).
- What gives way, in order: the oldest passes, then free text (details, alert messages, a plan's
  expected/found, an error) cut on a character boundary with "…" at shrinking byte budgets, then
  the oldest alerts, then a plan's file lists beyond their first path, then a status's adoption
  figures (beta's first: ``adoption`` shows them as not reported). Names, digests, versions,
  sync states and booleans are never cut: the workstation decides on them.
- Sizes are UTF-8 bytes, never characters: a 160-character detail in Cyrillic is 320 bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from .contracts import MAX_RESULT_BYTES, RESULT_PREFIX

__all__ = ["cut_text", "fit_document", "fit_result", "result_line"]

_ELLIPSIS = "…"
# Free-text budgets in bytes, tried in turn until the document fits.
_BUDGETS = (120, 60, 24, 0)
# The free-text fields of each document, by their place in the dumped JSON.
_TEXT_FIELDS = {"detail", "message", "expected", "found", "error"}

Document = TypeVar("Document", bound=BaseModel)


def cut_text(text: str, max_bytes: int) -> str:
    """``text`` in at most ``max_bytes`` bytes of UTF-8, cut on a character boundary and ending in "…"."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    room = max_bytes - len(_ELLIPSIS.encode())
    if room <= 0:
        return ""
    return data[:room].decode(errors="ignore") + _ELLIPSIS


def _size(document: BaseModel) -> int:
    return len(document.model_dump_json().encode())


def _cut_texts(data: Any, budget: int) -> None:
    """Cut every free-text field in ``data`` (a dumped document) to ``budget`` bytes, in place."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in _TEXT_FIELDS and isinstance(value, str):
                data[key] = cut_text(value, budget)
            else:
                _cut_texts(value, budget)
    elif isinstance(data, list):
        for item in data:
            _cut_texts(item, budget)


def _drop_oldest(name: str) -> Callable[[dict[str, Any]], bool]:
    def step(data: dict[str, Any]) -> bool:
        items = data.get(name)
        if not items:
            return False
        data[name] = items[1:]
        return True

    return step


def _cut_to(budget: int) -> Callable[[dict[str, Any]], bool]:
    def step(data: dict[str, Any]) -> bool:
        before = repr(data)
        _cut_texts(data, budget)
        return repr(data) != before

    return step


def _trim_files(data: dict[str, Any]) -> bool:
    entries = data.get("resources")
    if not isinstance(entries, dict):
        return False
    trimmed = False
    for entry in entries.values():
        if isinstance(entry, dict) and len(entry.get("files") or []) > 1:
            entry["files"] = entry["files"][:1]
            trimmed = True
    return trimmed


def _drop_adoption(data: dict[str, Any]) -> bool:
    figures = data.get("adoption")
    if not figures:
        return False
    figures.pop("beta" if "beta" in figures else next(iter(figures)))
    return True


_STEPS: tuple[Callable[[dict[str, Any]], bool], ...] = (
    _drop_oldest("passes"),
    *(_cut_to(budget) for budget in _BUDGETS),
    _drop_oldest("alerts"),
    _trim_files,
    _drop_adoption,
)


def fit_document(document: Document, max_bytes: int) -> Document:
    """``document`` with the least given up (see Rules) so that its compact JSON is at most
    ``max_bytes`` bytes; unchanged when it already fits. Still too big after every step (a schema
    bound gone), the smallest version is returned and ``result_line`` refuses it."""
    if _size(document) <= max_bytes:
        return document
    data = document.model_dump(mode="json")
    for step in _STEPS:
        while step(data):
            fitted = type(document).model_validate(data)
            if _size(fitted) <= max_bytes:
                return fitted
    return type(document).model_validate(data)


def fit_result(document: Document) -> Document:
    """``document`` fitted so that its RESULT line is at most ``MAX_RESULT_BYTES`` bytes."""
    return fit_document(document, MAX_RESULT_BYTES - len(RESULT_PREFIX.encode()))


def result_line(document: BaseModel) -> str:
    """The one RESULT line of ``document``, fitted; ValueError if a schema bound let it grow past
    ``MAX_RESULT_BYTES`` (a bug here, never a line the workstation would lose)."""
    line = RESULT_PREFIX + fit_result(document).model_dump_json()
    if len(line.encode()) > MAX_RESULT_BYTES:
        raise ValueError(f"a {type(document).__name__} RESULT line is over {MAX_RESULT_BYTES} bytes")
    return line
