"""The feed's health documents: ``GET /health`` (liveness) and ``GET /updates/health`` (what is served).

Rules:
- The feed builds both from these models (``feed/snapshot.py``), so the bytes it serves are the
  model's; every reader (verify, staging.validate, preflight, doctor, ``flow.served_version``, the
  reconciler's probes) parses them with :func:`parse_health` and asks the model, never the raw JSON.
- A document that is not what it should be is one line, the same from every reader:
  ``<url> answered a document that is not a <kind>: <first error>``.
- Strict: unknown keys and wrong types (``"1"`` for a number, ``"yes"`` for a boolean) are refused.
- Every field is always present (a None is ``null``) except ``reason``, present only when degraded.
- What a channel serves has one definition each: :meth:`FeedHealth.version` (the version alone,
  when nothing else is known) and :meth:`FeedHealth.serves` (the manifest's version *and* its dmg's
  sha256: the bytes a Sparkle client downloads, which carry the build too).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from .errors import DocumentError, first_error
from .models import Channel, Manifest, Sha256, Strict
from .version import Version

__all__ = [
    "FeedHealth",
    "HealthDocumentError",
    "ServedChannels",
    "ServedRelease",
    "ServerHealth",
    "parse_health",
]


class _Wire(Strict):
    """A document read over HTTP from a server that may be wrong: no coercion of types."""

    model_config = ConfigDict(strict=True)
    KIND: ClassVar[str] = "health document"
    """What the document is called in the one-line refusal."""


class ServerHealth(_Wire):
    """``GET /health``: the feed is up, and which stable version it serves."""

    KIND: ClassVar[str] = "server health document"

    status: Literal["ok"] = Field(description="always ok: liveness only, degradation is on /updates/health")
    version: Version | None = Field(
        description="the stable version served; null until a stable manifest has been served"
    )


class ServedRelease(_Wire):
    """One channel's release as the feed serves it (from that channel's manifest)."""

    version: Version = Field(description="sparkle:shortVersionString")
    build: Version = Field(description="sparkle:version")
    url: str = Field(pattern=r"^https?://", description="the dmg's URL in the appcast's enclosure")
    size: int = Field(gt=0, description="the dmg's bytes (the enclosure's length)")
    sha256: Sha256 = Field(description="the dmg's sha256")

    @classmethod
    def of(cls, manifest: Manifest) -> ServedRelease:
        artifact = manifest.artifact
        return cls(
            version=manifest.version,
            build=manifest.build,
            url=str(artifact.url),
            size=artifact.size,
            sha256=artifact.sha256,
        )


class ServedChannels(_Wire):
    stable: ServedRelease | None = Field(description="null until a stable manifest has been served")
    beta: ServedRelease | None = Field(description="null when no beta manifest is served")


class FeedHealth(_Wire):
    """``GET /updates/health``: what each channel serves, and whether the runtime files agree."""

    KIND: ClassVar[str] = "feed health document"

    status: Literal["ok", "degraded"] = Field(
        description="degraded: a runtime file is missing, broken or disagrees (see reason)"
    )
    latest_version: Version | None = Field(description="the stable version served (channels.stable.version)")
    latest_build: Version | None = Field(description="the stable build served (channels.stable.build)")
    channels: ServedChannels = Field(description="what each channel serves, from its manifest")
    manifest_digest: Sha256 | None = Field(description="sha256 of the served stable manifest file's bytes")
    beta_enabled: bool = Field(description="the beta gate: whether the beta appcast answers")
    reason: str | None = Field(
        default=None, description="only when degraded: the reasons, '; '-separated (absent otherwise)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeedHealth:
        stable = self.channels.stable
        latest = (stable.version, stable.build) if stable else (None, None)
        if (self.latest_version, self.latest_build) != latest:
            raise ValueError("latest_version and latest_build must be channels.stable's version and build")
        if (self.status == "degraded") != (self.reason is not None):
            raise ValueError("reason is given exactly when the status is degraded")
        return self

    @model_serializer(mode="wrap")
    def _reason_only_when_degraded(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.reason is None:
            data.pop("reason", None)
        return data

    def release(self, channel: Channel) -> ServedRelease | None:
        """What ``channel`` serves, or None when it serves nothing."""
        return self.channels.stable if channel is Channel.STABLE else self.channels.beta

    def version(self, channel: Channel) -> str | None:
        """The version ``channel`` serves: for a reader that knows no manifest (status, the probes)."""
        release = self.release(channel)
        return release.version if release else None

    def serves(self, channel: Channel, manifest: Manifest) -> bool:
        """Whether ``channel`` serves ``manifest``: its version and its dmg's sha256 (the build alone
        could name other bytes; the sha256 cannot)."""
        release = self.release(channel)
        return (
            release is not None
            and release.version == manifest.version
            and release.sha256 == manifest.artifact.sha256
        )


class HealthDocumentError(DocumentError):
    """A health endpoint answered something that is not its document; ``str()`` is the one line."""


HealthDocument = TypeVar("HealthDocument", ServerHealth, FeedHealth)
"""Either health document: what a reader generic over the two (``parse_health``) is typed with."""


def parse_health(kind: type[HealthDocument], url: str, body: bytes) -> HealthDocument:
    """``body`` (what ``url`` answered with 200) as ``kind``, or :class:`HealthDocumentError`."""
    try:
        return kind.model_validate_json(body)
    except ValidationError as exc:
        raise HealthDocumentError(
            f"{url} answered a document that is not a {kind.KIND}: {first_error(exc)}"
        ) from None
