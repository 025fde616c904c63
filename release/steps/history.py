"""``history``: the release journal (``manifests/release_log.jsonl``) as a table or one JSON document.

Rules:
- Read-only: the journal is read through ``release.parts.journal.read_entries`` and nothing else;
  a line that is not a journal entry is one error naming the file and the line.
- Newest last (the file's order), the last ``limit`` entries; ``limit`` 0 shows them all.
- Columns a person asks first: when (UTC), who, what (task and channel), version, result, so the
  table fits 80 columns; the detail of an entry that is not ``ok`` (why it failed, was forced or
  skipped) follows the table. ``--json`` carries every field of each entry.
"""

from __future__ import annotations

from rich.table import Table

from release.errors import ReleaseError
from release.parts.journal import log_path, read_entries
from release.parts.session import Session
from schemas import ReleaseLogEntry

__all__ = ["history", "parse_limit"]

_RESULT_STYLE = {"ok": "green", "skip": "dim", "failed": "red", "forced": "yellow"}


def parse_limit(value: str) -> int:
    """``--limit``: a whole number of entries, 0 for all (parsed here: invoke's int cast is a traceback)."""
    text = value.strip()
    if not text.isdigit():
        raise ReleaseError(f"--limit {value!r}: use a whole number of entries (0 shows them all)")
    return int(text)


def _what(entry: ReleaseLogEntry) -> str:
    return f"{entry.task} {entry.channel.value}" if entry.channel is not None else entry.task


def history(session: Session, limit: int) -> list[ReleaseLogEntry]:
    target = session.target
    entries = read_entries(target)
    shown = entries[-limit:] if limit else entries
    table = Table(title=f"history ({target.name}): {len(shown)} of {len(entries)}", title_justify="left")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("who", no_wrap=True, overflow="ellipsis", max_width=14)
    table.add_column("what", overflow="fold")
    table.add_column("version", no_wrap=True)
    table.add_column("result", no_wrap=True)
    notes = [] if entries else [f"the journal {log_path(target)} has no entries yet"]
    for entry in shown:
        when = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            when,
            entry.who,
            _what(entry),
            entry.version or "–",
            f"[{_RESULT_STYLE[entry.result]}]{entry.result}[/]",
        )
        if entry.result != "ok" and entry.detail:
            # Why a change failed, was forced or skipped is what a person looks for next.
            notes.append(f"{when} {_what(entry)} {entry.result}: {entry.detail}")
    document = {
        "target": target.name,
        "journal": str(log_path(target)),
        "total": len(entries),
        "entries": [entry.model_dump(mode="json") for entry in shown],
    }
    session.finish(table, document, notes=notes)
    return shown
