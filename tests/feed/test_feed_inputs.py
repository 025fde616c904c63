"""feed.inputs reads the runtime tree as the reconciler does (schemas.fileio), in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from feed.service import FeedService
from tests.feed.conftest import STABLE_VERSION
from tests.feed.feedkit import RuntimeTree, make_manifest


def test_a_directory_swapped_for_a_link_below_the_root_is_refused_and_named_relatively(
    tree: RuntimeTree, tmp_path: Path
) -> None:
    service = FeedService(tree.layout)
    assert service.reload()
    good = service.snapshot.appcast.body
    # The app server's user swaps the manifests directory for a link to a tree of its own.
    manifests = tree.layout.stable_manifest.parent
    planted = RuntimeTree(tmp_path / "planted")
    planted.install_fixtures()
    planted.write_stable(make_manifest(STABLE_VERSION, notes="planted"))
    shutil.rmtree(manifests)
    manifests.symlink_to(planted.layout.stable_manifest.parent)

    service.reload()
    health = json.loads(service.snapshot.updates_health.body)
    reason = str(health["reason"])
    assert health["status"] == "degraded"
    assert "server/updates/manifests is a symbolic link; refused" in reason
    assert str(tmp_path) not in reason  # served on the internet: no absolute paths
    assert service.snapshot.appcast.body == good
