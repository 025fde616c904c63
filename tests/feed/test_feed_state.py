"""What the feed decides to serve from the runtime files: pairs, last good state, gate, ordering."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from feed.service import FeedService
from schemas import parse_appcast
from schemas.vmconfig import read_gate
from tests.feed.conftest import BETA_VERSION, STABLE_VERSION
from tests.feed.feedkit import VM_FIXTURES, RuntimeTree, make_manifest


def _health(service: FeedService) -> dict[str, object]:
    document: dict[str, object] = json.loads(service.snapshot.updates_health.body)
    return document


def _loaded(tree: RuntimeTree) -> FeedService:
    service = FeedService(tree.layout)
    assert service.reload()
    return service


def test_healthy_tree_serves_the_default_version(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    health = _health(service)
    assert health["status"] == "ok" and "reason" not in health
    assert (health["latest_version"], health["latest_build"]) == (STABLE_VERSION, STABLE_VERSION)
    assert health["beta_enabled"] is False
    assert json.loads(service.snapshot.health.body) == {"status": "ok", "version": STABLE_VERSION}
    assert service.snapshot.beta_appcast is None
    title = service.snapshot.served.title
    assert title == "Nexy Updates"  # update.appcast_title of the VM fixture


def test_manifest_digest_is_over_the_served_file_bytes(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    served_bytes = tree.layout.versioned_manifest(STABLE_VERSION).read_bytes()
    assert _health(service)["manifest_digest"] == hashlib.sha256(served_bytes).hexdigest()


def test_unchanged_files_are_not_rebuilt_but_force_is(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    assert not service.reload()
    assert service.reload(force=True)


def test_manifest_json_serves_when_the_versioned_copy_is_missing(tree: RuntimeTree) -> None:
    tree.layout.versioned_manifest(STABLE_VERSION).unlink()
    health = _health(_loaded(tree))
    assert health["latest_version"] == STABLE_VERSION
    assert health["status"] == "degraded"
    assert f"manifest_{STABLE_VERSION}.json is missing" in str(health["reason"])


def test_pair_disagreement_is_degraded_and_the_versioned_file_wins(tree: RuntimeTree) -> None:
    tree.write_raw(tree.layout.stable_manifest, make_manifest("2.0.0.13").model_dump_json().encode())
    service = _loaded(tree)
    health = _health(service)
    assert health["latest_version"] == STABLE_VERSION
    assert "disagrees" in str(health["reason"])


def test_no_manifest_for_the_default_version_is_degraded(tree: RuntimeTree) -> None:
    tree.set_default_version("2.0.0.16")
    service = _loaded(tree)
    health = _health(service)
    assert health["status"] == "degraded"
    assert "no runtime manifest for default_version 2.0.0.16" in str(health["reason"])
    assert health["latest_version"] is None  # nothing good was ever served by this process
    # /health names the version served, not the one the config asks for.
    assert json.loads(service.snapshot.health.body) == {"status": "ok", "version": None}


def test_build_mismatch_is_reported(tree: RuntimeTree) -> None:
    tree.set_default_version(STABLE_VERSION, "2.0.0.99")
    assert "differs from default_build 2.0.0.99" in str(_health(_loaded(tree))["reason"])


def test_malformed_manifest_keeps_the_last_good_feed(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    good = service.snapshot.appcast
    tree.write_raw(tree.layout.versioned_manifest(STABLE_VERSION), b'{"version": "2.0.0.14", "build": ')
    tree.write_raw(tree.layout.stable_manifest, b"not json")
    assert service.reload()
    health = _health(service)
    assert health["status"] == "degraded"
    assert f"manifest_{STABLE_VERSION}.json: invalid manifest" in str(health["reason"])
    assert health["latest_version"] == STABLE_VERSION
    assert service.snapshot.appcast == good


def _unreadable(service: FeedService, *paths: Path) -> dict[str, object]:
    """Put a directory where each file was (open() fails with an OSError, as for a permission
    error; running as root, chmod would not), reload, and return the health document."""
    for path in paths:
        path.unlink()
        path.mkdir()
    assert service.reload()
    return _health(service)


def test_unreadable_manifest_keeps_the_last_good_feed(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    good = service.snapshot.appcast
    health = _unreadable(service, tree.layout.versioned_manifest(STABLE_VERSION), tree.layout.stable_manifest)
    assert health["status"] == "degraded"
    assert f"manifest_{STABLE_VERSION}.json: cannot read" in str(health["reason"])
    assert health["latest_version"] == STABLE_VERSION
    assert service.snapshot.appcast == good


def test_unreadable_config_env_keeps_the_gate_as_it_was(tree: RuntimeTree) -> None:
    tree.set_gate(True)
    service = _loaded(tree)
    health = _unreadable(service, tree.layout.config_env_path)
    assert "config.env: cannot read" in str(health["reason"])
    assert health["beta_enabled"] is True
    assert service.snapshot.beta_appcast is not None


def test_tampered_fingerprint_is_refused(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    document = json.loads(tree.layout.versioned_manifest(STABLE_VERSION).read_text())
    document["artifact"]["size"] = 1
    document["artifact"]["sha256"] = "f" * 64
    tree.write_raw(tree.layout.versioned_manifest(STABLE_VERSION), json.dumps(document).encode())
    service.reload()
    assert "fingerprint does not match" in str(_health(service)["reason"])
    assert _health(service)["channels"]["stable"]["size"] == 1234  # type: ignore[index]


def test_beta_manifest_in_the_stable_slot_is_refused(tree: RuntimeTree) -> None:
    tree.write_stable(make_manifest(STABLE_VERSION, "beta"))
    health = _health(_loaded(tree))
    assert "has channel beta; refused" in str(health["reason"])
    assert health["latest_version"] is None


def test_unreadable_config_keeps_the_served_version(tree: RuntimeTree) -> None:
    service = _loaded(tree)
    tree.write_raw(tree.layout.unified_config_path, b"update: [unclosed\n")
    service.reload()
    health = _health(service)
    assert "unified_config.yaml: not valid YAML" in str(health["reason"])
    assert health["latest_version"] == STABLE_VERSION


def test_gate_open_lists_beta_and_stable_newest_first(tree: RuntimeTree) -> None:
    tree.set_gate(True)
    service = _loaded(tree)
    beta = service.snapshot.beta_appcast
    assert beta is not None
    assert [item.version for item in parse_appcast(beta.body)] == [BETA_VERSION, STABLE_VERSION]
    assert [item.version for item in parse_appcast(service.snapshot.appcast.body)] == [STABLE_VERSION]


def test_beta_ordering_uses_sparkle_comparison_not_text(tree: RuntimeTree) -> None:
    # As text "2.0.0.9" > "2.0.0.10"; Sparkle (and the feed) see 2.0.0.10 as newer.
    tree.write_stable(make_manifest("2.0.0.10"))
    tree.write_beta(make_manifest("2.0.0.9", "beta"))
    tree.set_gate(True)
    beta = _loaded(tree).snapshot.beta_appcast
    assert beta is not None
    assert [item.version for item in parse_appcast(beta.body)] == ["2.0.0.10", "2.0.0.9"]


def test_promoted_beta_is_listed_once(tree: RuntimeTree) -> None:
    tree.write_beta(make_manifest(STABLE_VERSION, "beta"))
    tree.set_gate(True)
    beta = _loaded(tree).snapshot.beta_appcast
    assert beta is not None
    items = parse_appcast(beta.body)
    assert [item.version for item in items] == [STABLE_VERSION]
    assert items[0].url is not None and "/UpdateBeta/" in items[0].url


def test_open_gate_without_beta_manifest_is_degraded(tree: RuntimeTree) -> None:
    tree.layout.beta_manifest.unlink()
    tree.set_gate(True)
    service = _loaded(tree)
    assert "no usable manifest_beta.json" in str(_health(service)["reason"])
    beta = service.snapshot.beta_appcast
    assert beta is not None
    assert [item.version for item in parse_appcast(beta.body)] == [STABLE_VERSION]


def test_malformed_beta_keeps_the_last_good_beta(tree: RuntimeTree) -> None:
    tree.set_gate(True)
    service = _loaded(tree)
    tree.write_raw(tree.layout.beta_manifest, b"{}")
    service.reload()
    health = _health(service)
    assert "manifest_beta.json: invalid manifest" in str(health["reason"])
    assert health["channels"]["beta"]["version"] == BETA_VERSION  # type: ignore[index]


def test_missing_files_serve_an_empty_degraded_feed(tmp_path: Path) -> None:
    tree = RuntimeTree(tmp_path / "empty")
    tree.root.mkdir()
    service = _loaded(tree)
    assert "unified_config.yaml: missing" in str(_health(service)["reason"])
    assert parse_appcast(service.snapshot.appcast.body) == []
    assert service.snapshot.beta_appcast is None


def test_title_override_wins(tree: RuntimeTree) -> None:
    service = FeedService(tree.layout, title="Nexy Staging")
    service.reload()
    assert service.snapshot.served.title == "Nexy Staging"
    assert b"<title>Nexy Staging</title>" in service.snapshot.appcast.body


@pytest.mark.parametrize(
    ("text", "enabled", "problem"),
    [
        ((VM_FIXTURES / "config.env").read_text(), False, False),
        ("UPDATE_BETA_ENABLED=true\n", True, False),
        ("UPDATE_BETA_ENABLED=TRUE\n", True, False),
        ('UPDATE_BETA_ENABLED="true"\n', True, False),
        ("export UPDATE_BETA_ENABLED=true  # staging window\n", True, False),
        ("# UPDATE_BETA_ENABLED=true\n", False, False),
        ("UPDATE_BETA_ENABLED=true\nUPDATE_BETA_ENABLED=false\n", False, False),
        ("OTHER=1\n", False, False),
        ("UPDATE_BETA_ENABLED=yes\n", False, True),
        ("UPDATE_BETA_ENABLED_OLD=true\n", False, False),
    ],
)
def test_gate_reading(text: str, enabled: bool, problem: bool) -> None:
    reading = read_gate(text.encode())
    assert reading.enabled is enabled
    assert (reading.problem is not None) is problem


@pytest.mark.parametrize("empty", [b"", b"\n  \n"])
def test_empty_config_env_is_degraded_and_keeps_the_gate(tree: RuntimeTree, empty: bytes) -> None:
    tree.set_gate(True)
    service = _loaded(tree)
    assert _health(service)["status"] == "ok"
    tree.write_raw(tree.layout.config_env_path, empty)
    assert service.reload()
    health = _health(service)
    assert health["status"] == "degraded"
    assert "config.env is empty" in str(health["reason"])
    assert health["beta_enabled"] is True
    assert service.snapshot.beta_appcast is not None
