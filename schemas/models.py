"""The desired-state documents: manifests, the beta gate, validations, the release log.

Rules:
- Every model forbids unknown keys, so a typo in a hand-edited file is an error, not a silent no-op.
- A manifest names only what was really published: its ``fingerprint`` is the sha256 over version,
  build and the artifacts' sha256s, and a manifest whose fingerprint does not match is refused.
- An artifact name is a plain file name and a sha256 is 64 lowercase hex digits, so neither can
  steer a path or a comparison.
- ``ed_signature`` is base64 of exactly 64 bytes (Ed25519): Sparkle's ``SUSignatures.m``
  ``initWithEd:`` marks any other length invalid and refuses the update, so we refuse it first.
- Update controls (phased rollout, critical update, minimum autoupdate version) and the product link
  are optional and rendered into the feed as Sparkle reads them (``SUAppcastItem.m``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .status import VERSION_MAX
from .version import Version

__all__ = [
    "Artifact",
    "BetaGate",
    "Bundle",
    "Channel",
    "CheckResult",
    "CriticalUpdate",
    "Manifest",
    "ReleaseLogEntry",
    "Sha256",
    "Validation",
    "compute_fingerprint",
    "utcnow",
]

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
FileName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Channel(StrEnum):
    BETA = "beta"
    STABLE = "stable"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Artifact(Strict):
    """One published file: where clients fetch it and what its bytes must be."""

    name: FileName
    url: AnyHttpUrl
    size: int = Field(gt=0, description="bytes; an empty artifact is never a release")
    sha256: Sha256
    ed_signature: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9+/]+={0,2}$", description="base64 of the 64-byte Ed25519 signature"
    )

    @field_validator("ed_signature")
    @classmethod
    def _ed25519_length(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("ed_signature is not valid base64") from None
        if len(raw) != 64:
            raise ValueError(f"ed_signature decodes to {len(raw)} bytes; an Ed25519 signature is 64")
        return value

    @field_validator("url")
    @classmethod
    def _url_names_file(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if not (url.path or "").rstrip("/"):
            raise ValueError("url must name a file, not a bare host")
        return url


def compute_fingerprint(version: str, build: str, artifact_sha256: str, installer_sha256: str) -> str:
    material = "\n".join(("nexy-release/1", version, build, artifact_sha256, installer_sha256))
    return hashlib.sha256(material.encode()).hexdigest()


# A year: a longer interval is a typo (7 phased groups would wait 7 years for the last one).
MAX_ROLLOUT_INTERVAL_S = 365 * 24 * 3600


class CriticalUpdate(Strict):
    """``sparkle:criticalUpdate``: critical for every client, or only for those below ``below``."""

    below: Version | None = Field(
        default=None, description="sparkle:version attribute: critical only for hosts older than this"
    )


class Manifest(Strict):
    """What a channel serves: the dmg (Sparkle update), the pkg (first install) and their notes."""

    # Bounded so a status document naming it still fits Run Command's answer (schemas/fit.py).
    version: Version = Field(max_length=VERSION_MAX)
    build: Version = Field(max_length=VERSION_MAX, description="Sparkle's sparkle:version")
    channel: Channel
    artifact: Artifact
    installer: Artifact
    release_notes: str = Field(default="", max_length=65536)
    published_at: datetime
    minimum_system_version: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+){0,2}$")
    phased_rollout_interval: int | None = Field(
        default=None,
        gt=0,
        le=MAX_ROLLOUT_INTERVAL_S,
        description="seconds between Sparkle's 7 rollout groups",
    )
    critical_update: CriticalUpdate | None = None
    minimum_autoupdate_version: Version | None = Field(
        default=None, description="hosts below this version are not updated automatically (major upgrade)"
    )
    product_link: AnyHttpUrl | None = Field(default=None, description="the item's <link> (product page)")
    promoted_at: datetime | None = Field(default=None, description="stable only: the promote time (pubDate)")
    fingerprint: Sha256

    @model_validator(mode="after")
    def _fingerprint_matches(self) -> Manifest:
        expected = compute_fingerprint(self.version, self.build, self.artifact.sha256, self.installer.sha256)
        if self.fingerprint != expected:
            raise ValueError("fingerprint does not match version, build and artifact sha256s")
        return self

    @classmethod
    def create(cls, **fields: Any) -> Manifest:
        """Build a manifest and compute its fingerprint from the other fields."""
        artifact = Artifact.model_validate(fields["artifact"])
        installer = Artifact.model_validate(fields["installer"])
        fields["fingerprint"] = compute_fingerprint(
            str(fields["version"]), str(fields["build"]), artifact.sha256, installer.sha256
        )
        return cls.model_validate(fields)

    def for_channel(self, channel: Channel, artifact_url: str, installer_url: str) -> Manifest:
        """The same release published in another channel: same bytes, same fingerprint."""
        return self.model_copy(
            update={
                "channel": channel,
                "artifact": self.artifact.model_copy(update={"url": AnyHttpUrl(artifact_url)}),
                "installer": self.installer.model_copy(update={"url": AnyHttpUrl(installer_url)}),
            }
        )


class BetaGate(Strict):
    """Desired ``UPDATE_BETA_ENABLED`` on the VM."""

    enabled: bool
    updated_at: datetime
    reason: str = Field(default="", max_length=500)


class CheckResult(Strict):
    """One row of a check table. A ``skipped`` row was not asked because another row's failure
    decides it (its ``detail`` names that cause); it is not ``ok``, but it is not a failure of its own."""

    name: str
    ok: bool
    detail: str = ""
    skipped: bool = False


class Validation(Strict):
    """The result of ``staging.validate``, bound to the beta fingerprint it checked."""

    channel: Literal[Channel.BETA] = Channel.BETA
    version: Version
    fingerprint: Sha256
    validated_at: datetime
    ok: bool
    checks: tuple[CheckResult, ...]


class ReleaseLogEntry(Strict):
    """One line of ``release_log.jsonl``: who changed what, when, with which result."""

    at: datetime
    who: str
    task: str
    result: Literal["ok", "skip", "failed", "forced"]
    target: str = ""
    channel: Channel | None = None
    version: Version | None = None
    fingerprint: Sha256 | None = None
    detail: str = ""


class Bundle(Strict):
    """The desired-state files ``sync`` sends to the VM in one call."""

    stable: Manifest | None = None
    beta: Manifest | None = None
    gate: BetaGate | None = None

    def digest(self) -> str:
        """The desired digest both sides report: sha256 over the canonical serialisation."""
        return hashlib.sha256(self.model_dump_json(exclude_none=True).encode()).hexdigest()

    @model_validator(mode="after")
    def _channels_match(self) -> Bundle:
        if self.stable is not None and self.stable.channel is not Channel.STABLE:
            raise ValueError("stable: manifest channel must be 'stable'")
        if self.beta is not None and self.beta.channel is not Channel.BETA:
            raise ValueError("beta: manifest channel must be 'beta'")
        return self
