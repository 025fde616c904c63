"""Release notes: ``LATEST_CHANGES.md`` (Markdown) rendered to the HTML an appcast item carries.

Rules:
- CommonMark through markdown-it-py with raw HTML off: a ``<script>`` or ``<img onerror>`` typed
  into the notes comes out escaped as text, never as markup Sparkle's release-notes web view runs.
  markdown-it's link validation drops ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` links.
- The HTML goes into ``<description>`` with no ``sparkle:format``: HTML is the format every Sparkle 2
  version shows (``SUAppcastItem.m`` defaults a description to "html"; "plain-text" and
  "markdown" are honoured only by newer versions).
- Pure: a new parser per call, no module state.
- markdown-it is imported by the call, not the module: ``schemas`` imports this module for every
  process (each ``./inv`` run, each ``python -m reconciler`` call) and most never render notes
  (about 30 ms of CPU each).
"""

from __future__ import annotations

__all__ = ["notes_html"]


def notes_html(markdown: str) -> str:
    """HTML for the release notes; empty notes give an empty string."""
    if not markdown.strip():
        return ""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    html: str = parser.render(markdown)
    return html
