"""The generated reference blocks in ``docs/``: which model fills which marked block of which page.

Rules: ``./inv schemas`` rewrites them with the JSON Schemas and ``./inv schemas --check`` reports them
stale; the rendering itself is ``schemas.reference`` (pure). The table lives here, not in ``schemas``,
because the reconciler's config model belongs to ``reconciler`` and ``schemas`` imports none of the
three sides. Pages are written atomically and only when their text changes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from schemas import atomic_write
from schemas.reference import reference_table, splice

from ._options import ROOT

__all__ = ["blocks", "export", "rendered", "stale"]


def blocks() -> dict[Path, dict[str, type[BaseModel]]]:
    """Page (relative to the checkout) → {block name: model}."""
    # Imported here: only `./inv schemas` and its test need the reconciler's model.
    from reconciler.config import Config

    return {Path("docs/vm.md"): {"reconciler-config": Config}}


def rendered(root: Path = ROOT) -> dict[Path, str]:
    """Each page's full text with its generated blocks filled in."""
    out = {}
    for page, models in blocks().items():
        text = (root / page).read_text(encoding="utf-8")
        for name, model in models.items():
            text = splice(text, name, reference_table(model))
        out[page] = text
    return out


def stale(root: Path = ROOT) -> list[str]:
    """Pages whose generated blocks differ from what the models give now."""
    return [
        str(page)
        for page, text in rendered(root).items()
        if (root / page).read_text(encoding="utf-8") != text
    ]


def export(root: Path = ROOT) -> list[str]:
    """Rewrite the pages whose generated blocks changed; return their names."""
    changed = []
    for page, text in rendered(root).items():
        if (root / page).read_text(encoding="utf-8") != text:
            atomic_write(root / page, text.encode())
            changed.append(str(page))
    return changed
