"""The desired-state documents: manifests, the beta gate, validations, the release log.

Rules:
- Every model forbids unknown keys, so a typo in a hand-edited file is an error, not a silent no-op.
- A manifest names only what was really published: its ``fingerprint`` is the sha256 over version,
  build and the artifacts' sha256s, and a manifest whose fingerprint does not match is refused.
- An artifact name is a plain file name and a sha256 is 64 lowercase hex digits, so neither can
  steer a path or a comparison.
"""

from __future__ import annotations

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

from .version import Version

__all__ = [
    "Artifact",
    "BetaGate",
    "Bundle",
    "Channel",
    "CheckResult",
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
    ed_signature: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]+={0,2}$")

    @field_validator("url")
    @classmethod
    def _url_names_file(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if not (url.path or "").rstrip("/"):
            raise ValueError("url must name a file, not a bare host")
        return url


def compute_fingerprint(version: str, build: str, artifact_sha256: str, installer_sha256: str) -> str:
    material = "\n".join(("nexy-release/1", version, build, artifact_sha256, installer_sha256))
    return hashlib.sha256(material.encode()).hexdigest()


class Manifest(Strict):
    """What a channel serves: the dmg (Sparkle update), the pkg (first install) and their notes."""

    version: Version
    build: Version = Field(description="Sparkle's sparkle:version")
    channel: Channel
    artifact: Artifact
    installer: Artifact
    release_notes: str = Field(default="", max_length=65536)
    published_at: datetime
    minimum_system_version: str | None = Field(default=None, pattern=r"^[0-9]+(\.[0-9]+){0,2}$")
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
    name: str
    ok: bool
    detail: str = ""


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
