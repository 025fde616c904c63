"""EdDSA signing and update controls end to end on a real sandbox (reconciler, TLS feeds, store).

The tests share one sandbox, as a release engineer's week would: the sandbox key, refusals when the
app's key disagrees, a signed beta with controls, validate, promote, verify, a tampered download, and
finally a search of everything the tasks wrote or printed for the key. Each test brings the sandbox to
the state it needs through module-scoped fixtures (``published``, ``promoted``), so any one of them
runs alone; ``outputs`` collects every stdout and stderr a task printed in this module.
"""

from __future__ import annotations

import base64
import hashlib
import plistlib
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nacl.signing
import pytest

from release.outside.sandbox_layout import sandbox_paths
from release.parts.journal import read_entries
from release.parts.session import ssl_context
from release.parts.signing import info_plist_path
from release.parts.versioning import current_version
from schemas import Manifest, atomic_write, parse_appcast

from .helpers import make_artifacts, one_json, snapshot

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
VERSION = "2.0.0.15"


class Tasks:
    """Runs tasks on the sandbox and keeps every stdout and stderr, searched for the key at the end."""

    def __init__(self, box: Any) -> None:
        self.box = box
        self.outputs: list[str] = []

    def __call__(self, *args: str, check: bool = True) -> Any:
        done = self.box.inv(*args, check=check)
        self.outputs.extend((done.stdout, done.stderr))
        return done


@pytest.fixture(scope="module")
def inv(sandbox: Any) -> Tasks:
    return Tasks(sandbox)


def ready_to_publish(box: Any, inv: Tasks) -> None:
    """VERSION bumped and the beta inbox filled, once (a bump to the current version is refused)."""
    if current_version(box.target.path(box.target.workspace)) != VERSION:
        inv("bump", VERSION)
        make_artifacts(box.root, 2 * MB, MB, f"# Nexy {VERSION}\n\n- Faster wake word\n")


@pytest.fixture(scope="module")
def published(sandbox: Any, inv: Tasks) -> Any:
    """A signed beta with a phased rollout, the gate open; the ``staging.validate`` run."""
    ready_to_publish(sandbox, inv)
    inv("publish", "--channel", "beta", "--phased-rollout-interval", "3600")
    inv("staging.open", "--reason", "signing test")
    return inv("staging.validate")


@dataclass(frozen=True)
class Promoted:
    started: datetime
    bad: Any
    plan: Any
    again: Any


@pytest.fixture(scope="module")
def promoted(published: Any, inv: Tasks) -> Promoted:
    """Stable promoted from the signed beta with ``--critical --critical-below 2.0.0.15``."""
    bad = inv("promote", "--phased-rollout-interval", "1.5", check=False)
    plan = inv("promote", "--critical", "--critical-below", "2.0.0.15", "--dry-run")
    started = datetime.now().astimezone()
    inv("promote", "--critical", "--critical-below", "2.0.0.15")
    again = inv("promote", "--minimum-autoupdate-version", "2.0.0.1", check=False)
    return Promoted(started, bad, plan, again)


def key_file(box: Any) -> Path:
    path: Path = box.root / ".sandbox" / "signing" / "ed25519.key"
    return path


def public_key(box: Any) -> nacl.signing.VerifyKey:
    seed = base64.b64decode(key_file(box).read_text().strip())
    return nacl.signing.SigningKey(seed).verify_key


def plist(box: Any) -> Path:
    path = info_plist_path(box.target)
    assert path is not None
    return path


def set_plist_key(box: Any, value: str | None) -> None:
    document = plistlib.loads(plist(box).read_bytes())
    if value is None:
        document.pop("SUPublicEDKey", None)
    else:
        document["SUPublicEDKey"] = value
    atomic_write(plist(box), plistlib.dumps(document))


def verifies(key: nacl.signing.VerifyKey, signature: str | None, data: bytes) -> bool:
    assert signature is not None and len(base64.b64decode(signature, validate=True)) == 64
    try:
        key.verify(data, base64.b64decode(signature))  # libsodium: an independent RFC 8032 verifier
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def served(box: Any, url: str) -> bytes:
    with httpx.Client(verify=ssl_context(box.target), timeout=30) as client:
        response = client.get(url)
        response.raise_for_status()
        return response.content


def table_row(output: str, name: str) -> str:
    rows = [line for line in output.splitlines() if f" {name} " in line]
    assert rows, f"no {name!r} row in:\n{output}"
    return rows[0]


def test_sandbox_up_made_a_key_and_put_its_public_key_in_the_app_plist(sandbox: Any, inv: Tasks) -> None:
    path = key_file(sandbox)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text(), validate=True)) == 32  # generate_keys' seed format
    want = base64.b64encode(bytes(public_key(sandbox))).decode()
    assert plistlib.loads(plist(sandbox).read_bytes())["SUPublicEDKey"] == want
    before = path.read_bytes()
    inv("sandbox.up")
    assert path.read_bytes() == before, "the key is made once"


def test_publish_refuses_a_key_that_is_not_the_apps(sandbox: Any, inv: Tasks) -> None:
    ready_to_publish(sandbox, inv)
    mine = plistlib.loads(plist(sandbox).read_bytes())["SUPublicEDKey"]
    other = base64.b64encode(bytes(nacl.signing.SigningKey.generate().verify_key)).decode()
    set_plist_key(sandbox, other)
    try:
        before = snapshot(sandbox.root)
        done = inv("publish", "--channel", "beta", check=False)
        assert done.returncode == 1
        (line,) = done.stderr.strip().splitlines()
        assert f"signing key {mine} does not match Info.plist SUPublicEDKey {other}" in line
        assert snapshot(sandbox.root) == before
        preflight = inv("preflight", "--channel", "beta", check=False)
        assert preflight.returncode == 1 and "✗" in table_row(preflight.stdout, "signing key")
        assert f"signing key: signing key {mine} does not match" in preflight.stderr
        set_plist_key(sandbox, None)
        before = snapshot(sandbox.root)
        done = inv("publish", "--channel", "beta", check=False)
        assert done.returncode == 1
        assert "Info.plist has no SUPublicEDKey but signing is required" in done.stderr
        assert snapshot(sandbox.root) == before
    finally:
        set_plist_key(sandbox, mine)


def test_malformed_controls_are_refused_and_the_dry_run_shows_signing_and_controls(
    sandbox: Any, inv: Tasks
) -> None:
    ready_to_publish(sandbox, inv)
    before = snapshot(sandbox.root)
    for args, message in (
        (("--phased-rollout-interval", "soon"), "--phased-rollout-interval 'soon'"),
        (("--critical-below", "2.0.0.1"), "--critical-below goes with --critical"),
        (("--minimum-autoupdate-version", "2.0"), "--minimum-autoupdate-version '2.0'"),
        (("--critical", "--critical-below", "9.0.0.0"), "newer than the release"),
    ):
        done = inv("publish", "--channel", "beta", *args, check=False)
        assert done.returncode == 2 and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    plan = inv("publish", "--phased-rollout-interval", "3600", "--dry-run").stdout
    assert "plan: update controls: phased rollout every 3600s" in plan
    assert "plan: sign Nexy.dmg: sparkle:edSignature" in plan and "plan: sign Nexy.pkg" in plan
    assert snapshot(sandbox.root) == before


def test_publish_signs_both_archives_and_the_beta_feed_serves_the_signature(
    sandbox: Any, published: Any
) -> None:
    beta = Manifest.model_validate_json((sandbox.root / "manifests" / "manifest_beta.json").read_bytes())
    store = sandbox_paths(sandbox.target).store_root
    key = public_key(sandbox)
    assert verifies(key, beta.artifact.ed_signature, (store / "UpdateBeta" / "Nexy.dmg").read_bytes())
    assert verifies(key, beta.installer.ed_signature, (store / "AppBeta" / "Nexy.pkg").read_bytes())
    assert beta.phased_rollout_interval == 3600
    (entry,) = [e for e in read_entries(sandbox.target) if e.task == "publish" and e.result == "ok"]
    assert "signed: yes" in entry.detail and "update controls: phased rollout every 3600s" in entry.detail
    assert "✓" in table_row(published.stdout, "signature")
    staging = str(sandbox.target.endpoints.staging.url).rstrip("/")
    (item,) = [
        i
        for i in parse_appcast(served(sandbox, f"{staging}/updates/appcast-beta.xml"))
        if i.version == VERSION
    ]
    assert item.ed_signature == beta.artifact.ed_signature and item.phased_rollout_interval == 3600
    assert item.info_url == "https://example.com/nexy"
    assert verifies(key, item.ed_signature, served(sandbox, str(beta.artifact.url)))


def test_promote_carries_signatures_and_dates_the_stable_item_at_promote(
    sandbox: Any, inv: Tasks, promoted: Promoted
) -> None:
    manifests = sandbox.root / "manifests"
    beta = Manifest.model_validate_json((manifests / "manifest_beta.json").read_bytes())
    bad = promoted.bad
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    plan = promoted.plan.stdout
    assert (
        "plan: update controls: phased rollout every 3600s, critical below 2.0.0.15; pubDate = the promote time"
        in plan
    )
    assert f"plan: carry sparkle:edSignature unchanged: dmg {beta.artifact.ed_signature[:16]}" in plan
    started = promoted.started
    (entry,) = [e for e in read_entries(sandbox.target) if e.task == "promote"]
    assert "update controls: phased rollout every 3600s, critical" in entry.detail
    stable = Manifest.model_validate_json((manifests / "manifest.json").read_bytes())
    assert stable.artifact.ed_signature == beta.artifact.ed_signature
    assert stable.installer.ed_signature == beta.installer.ed_signature
    assert stable.promoted_at is not None and stable.promoted_at >= started.replace(microsecond=0)
    assert stable.phased_rollout_interval == 3600  # carried from beta
    assert stable.critical_update is not None and stable.critical_update.below == "2.0.0.15"
    production = str(sandbox.target.endpoints.production.url).rstrip("/")
    (item,) = parse_appcast(served(sandbox, f"{production}/updates/appcast.xml"))
    assert item.pub_date == stable.promoted_at
    assert (item.critical_update, item.critical_version) == (True, "2.0.0.15")
    assert verifies(public_key(sandbox), item.ed_signature, served(sandbox, str(stable.artifact.url)))
    report = one_json(inv("verify", "--json").stdout)
    rows = {check["name"]: check for check in report["checks"]}
    assert rows["signature"]["ok"] and "Nexy.dmg, Nexy.pkg" in rows["signature"]["detail"]
    assert rows["update controls"]["ok"], rows["update controls"]
    assert "critical below 2.0.0.15" in rows["update controls"]["detail"]
    shown = inv("verify").stdout
    assert "signature" in shown and "update controls" in shown
    again = promoted.again
    assert again.returncode == 2 and "released history is not rewritten" in again.stderr
    status = {row["item"]: row for row in one_json(inv("status", "--json").stdout)["rows"]}
    controls = status["stable update controls"]
    assert controls["desired"] == controls["served"] and not controls["drift"]
    assert "critical below 2.0.0.15" in controls["served"]


def test_a_one_byte_change_to_the_served_dmg_fails_the_signature_row(
    sandbox: Any, inv: Tasks, promoted: Promoted
) -> None:
    dmg = sandbox_paths(sandbox.target).store_root / "Update" / "Nexy.dmg"
    original = dmg.read_bytes()
    mode = stat.S_IMODE(dmg.stat().st_mode)
    changed = bytearray(original)
    changed[1000] ^= 0x01
    atomic_write(dmg, bytes(changed), mode=mode)
    try:
        done = inv("verify", "--json", check=False)
        assert done.returncode == 1
        rows = {check["name"]: check for check in one_json(done.stdout)["checks"]}
        assert not rows["signature"]["ok"]
        assert rows["signature"]["detail"].startswith(
            "Nexy.dmg: sparkle:edSignature does not match the bytes"
        )
        assert "Nexy.pkg" not in rows["signature"]["detail"]
    finally:
        atomic_write(dmg, original, mode=mode)
    assert one_json(inv("verify", "--json").stdout)["ok"] is True


def test_the_private_key_is_nowhere_but_its_file(sandbox: Any, inv: Tasks, promoted: Promoted) -> None:
    # The week above ran (promoted); these print signing plans, tables and the journal's view.
    inv("status", "--json", check=False)
    inv("verify", "--channel", "beta")
    inv("preflight", "--channel", "beta", check=False)
    seed = base64.b64decode(key_file(sandbox).read_text().strip())
    forms = [seed, base64.b64encode(seed), seed.hex().encode(), hashlib.sha512(seed).digest()[:32]]
    found = []
    for path in sorted(sandbox.root.rglob("*")):
        if path.is_file() and path != key_file(sandbox) and not path.is_symlink():
            data = path.read_bytes()
            found += [str(path) for form in forms if form in data]
    for text in inv.outputs:
        found += ["task output" for form in forms if form.decode("latin-1") in text]
    # The journal, manifests, logs, the VM's desired and runtime files, the store and remote calls
    # all live under the root: each one was searched above.
    assert (sandbox.root / "manifests" / "release_log.jsonl").is_file()
    assert sandbox_paths(sandbox.target).remote_calls.is_file()
    assert len(inv.outputs) > 20
    assert found == []
