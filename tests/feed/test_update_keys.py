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
