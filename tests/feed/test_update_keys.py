"""The feed reads ``unified_config.yaml`` through the shared reader: a missing build is reported."""

from __future__ import annotations

import json

from feed.service import FeedService
from schemas import atomic_write
from tests.feed.conftest import STABLE_VERSION
from tests.feed.feedkit import RuntimeTree


def test_a_missing_default_build_is_degraded_and_the_version_is_still_served(tree: RuntimeTree) -> None:
    path = tree.layout.unified_config_path
    text = path.read_text()
    kept = [line for line in text.splitlines(keepends=True) if not line.strip().startswith("default_build:")]
    assert len(kept) == len(text.splitlines()) - 1
    atomic_write(path, "".join(kept).encode())
    service = FeedService(tree.layout)
    assert service.reload()
    health = json.loads(service.snapshot.updates_health.body)
    assert health["status"] == "degraded", health
    assert "update.default_build is missing" in str(health["reason"])
    assert "differs from default_build" not in str(health["reason"])  # no build assumed from the version
    assert health["latest_version"] == STABLE_VERSION


def test_a_deeply_nested_config_is_a_degraded_reason_not_a_stuck_reload(tree: RuntimeTree) -> None:
    """The app's user can write unified_config.yaml: 20,000 nested flows once raised RecursionError
    out of the reload, so the feed kept serving its last snapshot and never said degraded."""
    service = FeedService(tree.layout)
    assert service.reload()
    atomic_write(tree.layout.unified_config_path, b"update: " + b"[" * 20_000 + b"\n")
    assert service.reload()
    health = json.loads(service.snapshot.updates_health.body)
    assert health["status"] == "degraded", health
    assert "nested" in str(health["reason"]) and "[" not in str(health["reason"])
