"""Every shared document refuses bad input, and the exported JSON Schemas are current."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import Artifact, BetaGate, Bundle, Manifest, ReleaseLogEntry, Validation, dump_model, utcnow
from tasks.jsonschemas import stale

SHA_A = "a" * 64
SHA_B = "b" * 64


def artifact(**over: Any) -> dict[str, Any]:
    base = {
        "name": "Nexy.dmg",
        "url": "https://h/releases/download/UpdateBeta/Nexy.dmg",
        "size": 10,
        "sha256": SHA_A,
    }
    return base | over


def manifest_fields(**over: Any) -> dict[str, Any]:
    base = {
        "version": "2.0.0.15",
        "build": "2.0.0.15",
        "channel": "beta",
        "artifact": artifact(),
        "installer": artifact(
            name="Nexy.pkg", url="https://h/releases/download/AppBeta/Nexy.pkg", sha256=SHA_B
        ),
        "release_notes": "Fixes & <things>",
        "published_at": utcnow(),
    }
    return base | over


def test_manifest_roundtrip_and_fingerprint() -> None:
    manifest = Manifest.create(**manifest_fields())
    again = Manifest.model_validate_json(dump_model(manifest))
    assert again == manifest
    assert dump_model(manifest).endswith(b"}\n")
    assert list(manifest.model_dump())[:3] == ["version", "build", "channel"]


def test_manifest_with_a_forged_fingerprint_is_refused() -> None:
    data = Manifest.create(**manifest_fields()).model_dump(mode="json")
    data["artifact"]["sha256"] = "c" * 64
    with pytest.raises(ValidationError, match="fingerprint"):
        Manifest.model_validate(data)


def test_for_channel_keeps_fingerprint() -> None:
    beta = Manifest.create(**manifest_fields())
    stable = beta.for_channel(beta.channel.STABLE, "https://h/d/Update/Nexy.dmg", "https://h/d/App/Nexy.pkg")
    assert stable.fingerprint == beta.fingerprint
    assert str(stable.artifact.url) == "https://h/d/Update/Nexy.dmg"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"artifact": artifact(sha256="XYZ")}, "sha256"),
        ({"artifact": artifact(sha256="A" * 64)}, "sha256"),
        ({"artifact": artifact(size=-1)}, "size"),
        ({"artifact": artifact(size=0)}, "size"),
        ({"artifact": artifact(name="../Nexy.dmg")}, "name"),
        ({"artifact": artifact(url="ftp://h/x")}, "url"),
        ({"artifact": artifact(url="https://h")}, "url"),
        ({"version": "2.0.0/15"}, "version"),
        ({"version": "../../x"}, "version"),
        ({"version": "2.0.0"}, "version"),
        ({"build": "2.0.0.15-beta"}, "build"),
        ({"channel": "nightly"}, "channel"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_manifest_refuses(override: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Manifest.create(**manifest_fields(**override))
    assert field in str(info.value)


def test_artifact_refuses_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        Artifact.model_validate(artifact(extra=True))


def test_bundle_channels_must_match() -> None:
    beta = Manifest.create(**manifest_fields())
    with pytest.raises(ValidationError, match="stable"):
        Bundle(stable=beta)
    bundle = Bundle(beta=beta, gate=BetaGate(enabled=True, updated_at=utcnow()))
    assert len(bundle.digest()) == 64
    assert bundle.digest() == Bundle.model_validate_json(bundle.model_dump_json()).digest()


def test_gate_validation_and_log_entry() -> None:
    with pytest.raises(ValidationError):
        BetaGate.model_validate({"enabled": "maybe", "updated_at": utcnow()})
    with pytest.raises(ValidationError):
        Validation.model_validate(
            {"version": "2.0.0.15", "fingerprint": "z", "validated_at": utcnow(), "ok": True, "checks": []}
        )
    with pytest.raises(ValidationError):
        ReleaseLogEntry.model_validate({"at": utcnow(), "who": "me", "task": "publish", "result": "maybe"})
    entry = ReleaseLogEntry(
        at=utcnow(), who="me", task="publish", result="ok", channel="beta", version="2.0.0.15"
    )
    assert ReleaseLogEntry.model_validate_json(entry.model_dump_json()) == entry


def test_exported_json_schemas_are_current() -> None:
    assert stale() == [], "run ./inv schemas and commit schemas/json/"


def test_the_vm_sides_processes_never_build_the_target_models() -> None:
    """``schemas.Target`` is imported when first asked for: the reconciler, the feed and the gRPC
    stand-in start without the target file's models (80 ms of CPU each)."""
    probe = (
        "import sys, reconciler.cli, reconciler.daemon, reconciler.engine, feed.cli, feed.app, "
        "release.sandbox.grpcstub; print('schemas.target' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, timeout=120)
    assert loaded.stdout.decode().split() == ["False"]
    import schemas
    import schemas.target

    assert schemas.Target is schemas.target.Target
    with pytest.raises(AttributeError, match="no attribute 'Targets'"):
        _ = schemas.Targets  # type: ignore[attr-defined]
