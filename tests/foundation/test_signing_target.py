"""The target's ``signing:`` block: each key source loads, and a broken block is refused naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from release.errors import ReleaseError
from release.parts.signing import info_plist_path
from release.parts.target import load_target
from schemas.target import EnvKey, FileKey, KeychainKey

REPO = Path(__file__).resolve().parents[2]


def test_production_signs_with_the_generate_keys_keychain_item() -> None:
    target = load_target("production", REPO)
    assert target.signing is not None and target.signing.required
    assert target.signing.key == KeychainKey(kind="keychain", account="ed25519")
    assert info_plist_path(target) == (REPO / "../Nexy/client/Info.plist")


def test_sandbox_signs_with_its_own_key_file() -> None:
    target = load_target("sandbox", REPO)
    assert target.signing is not None
    assert target.signing.key == FileKey(kind="file", path=".sandbox/signing/ed25519.key")
    assert str(target.product_link) == "https://example.com/nexy"


def _target(tmp_path: Path, signing: object, second_plist: bool = False) -> Path:
    raw: Any = YAML(typ="safe").load((REPO / "targets" / "sandbox.yaml").read_text())
    raw["signing"] = signing
    if second_plist:
        # Which plist holds SUPublicEDKey must then be named.
        raw["version_files"].append({"kind": "plist", "path": "other/Info.plist"})
    path = tmp_path / "t.yaml"
    yaml = YAML(typ="safe")
    with path.open("w") as handle:
        yaml.dump(raw, handle)
    return path


def test_env_key_names_a_variable(tmp_path: Path) -> None:
    target = load_target(str(_target(tmp_path, {"key": {"kind": "env", "var": "CI_ED_KEY"}})), REPO)
    assert target.signing is not None and target.signing.key == EnvKey(kind="env", var="CI_ED_KEY")
    named = _target(tmp_path, {"key": {"kind": "file", "path": "k"}, "info_plist": "a/Info.plist"}, True)
    assert info_plist_path(load_target(str(named), REPO)) == REPO / ".sandbox/app/a/Info.plist"


@pytest.mark.parametrize(
    ("signing", "second_plist", "field"),
    [
        ({"key": {"kind": "vault"}}, False, "signing.key"),
        ({"key": {"kind": "env", "var": "NOT A NAME"}}, False, "signing.key.env.var"),
        ({"key": {"kind": "file", "path": "k"}, "secret": "abc"}, False, "signing.secret"),
        ({"key": {"kind": "file", "path": "k"}}, True, "signing.info_plist"),
    ],
)
def test_broken_signing_blocks_are_one_line(
    tmp_path: Path, signing: dict[str, Any], second_plist: bool, field: str
) -> None:
    with pytest.raises(ReleaseError) as caught:
        load_target(str(_target(tmp_path, signing, second_plist)), REPO)
    assert field in str(caught.value) and "\n" not in str(caught.value)
