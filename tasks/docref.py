"""The generated reference blocks in ``docs/``: which model, parser or metrics registry fills which
marked block of which page.

Rules: ``./inv schemas`` rewrites them with the JSON Schemas and ``./inv schemas --check`` reports them
stale; the rendering itself is ``tasks.reference`` (pure). The table lives here, not in ``schemas``,
because the reconciler's config model and metrics and the feed's parser and metrics belong to their
sides and ``schemas`` imports none of them. A registry is built the way each process builds its own
(never served, nothing counted). Pages are written atomically and only when their text changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from schemas import atomic_write

from ._options import ROOT
from .reference import metrics_table, options_table, reference_table, splice

__all__ = ["Source", "blocks", "export", "render", "rendered", "stale"]

# A config model (its fields' descriptions), a command line (its options' help texts) or a metrics
# registry (its families' help texts).
Source = type[BaseModel] | argparse.ArgumentParser | CollectorRegistry


def blocks() -> dict[Path, dict[str, Source]]:
    """Page (relative to the checkout) → {block name: source}."""
    # Imported here: only `./inv schemas` and its test need the reconciler's model and the feed's
    # parser (the very object `nexy-feed` parses its arguments with), and their metrics.
    from feed.app import PAYLOAD_ROUTES
    from feed.cli import _build_parser
    from feed.metrics import FeedMetrics
    from reconciler.config import Config
    from reconciler.metrics import ReconcilerMetrics
    from schemas.feedhealth import FeedHealth, ServerHealth
    from schemas.target import Target

    return {
        Path("docs/vm.md"): {"reconciler-config": Config},
        Path("docs/feed.md"): {
            "server-health": ServerHealth,
            "feed-health": FeedHealth,
            "feed-options": _build_parser(),
            "feed-metrics": FeedMetrics(PAYLOAD_ROUTES).registry,
            "reconciler-metrics": ReconcilerMetrics(CollectorRegistry()).registry,
        },
        Path("docs/production.md"): {"target-file": Target},
    }


def render(source: Source) -> str:
    """One block's Markdown."""
    if isinstance(source, argparse.ArgumentParser):
        return options_table(source)
    if isinstance(source, CollectorRegistry):
        return metrics_table(source)
    return reference_table(source)


def rendered(root: Path = ROOT) -> dict[Path, str]:
    """Each page's full text with its generated blocks filled in."""
    out = {}
    for page, sources in blocks().items():
        text = (root / page).read_text(encoding="utf-8")
        for name, source in sources.items():
            text = splice(text, name, render(source))
        out[page] = text
    return out


def stale(root: Path = ROOT) -> list[str]:
    """Pages whose generated blocks differ from what the models, parsers and registries give now."""
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
