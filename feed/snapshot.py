"""Pre-rendered responses: every endpoint's bytes, ETag and headers, built once per change.

Rules:
- Requests never render: a handler picks a ready :class:`Payload` (this is what makes the feed fast);
  its header lines are encoded once too, for the server's fast path (``feed.protocol``).
- The stable feed has the stable item; the beta feed has the beta item and the stable item, newest
  first by :func:`schemas.compare_versions` (a beta user must still reach the next stable). When both
  carry the same ``sparkle:version`` only the beta one is listed, so Sparkle never sees a tie.
- The health documents are ``schemas.feedhealth``'s models, dumped as they are.
- Feeds and health say ``Cache-Control: no-cache``; the beta feed (and its 404) ``private, no-store``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from pydantic import BaseModel

from schemas import (
    AppcastItem,
    FeedHealth,
    ServedChannels,
    ServedRelease,
    ServerHealth,
    compare_versions,
    items_from_manifest,
    render_appcast,
)

from .evaluate import Served

__all__ = ["FEED_CACHE", "PRIVATE_CACHE", "Payload", "Snapshot", "build_snapshot", "encode_headers"]

FEED_CACHE = "no-cache"
PRIVATE_CACHE = "private, no-store"
XML = "application/rss+xml; charset=utf-8"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Payload:
    body: bytes
    etag: str
    headers: tuple[tuple[bytes, bytes], ...]
    """Raw ASGI headers for a 200 answer: content-type, content-length, etag, cache-control."""
    not_modified_headers: tuple[tuple[bytes, bytes], ...]
    encoded_headers: bytes = b""
    """``headers`` as the header lines of an HTTP/1.1 answer, for the server's fast path."""
    encoded_not_modified: bytes = b""


def encode_headers(headers: tuple[tuple[bytes, bytes], ...]) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


def make_payload(body: bytes, media_type: str, cache_control: str) -> Payload:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    common = ((b"etag", etag.encode()), (b"cache-control", cache_control.encode()))
    headers = ((b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode()), *common)
    return Payload(
        body=body,
        etag=etag,
        headers=headers,
        not_modified_headers=common,
        encoded_headers=encode_headers(headers),
        encoded_not_modified=encode_headers(common),
    )


def _json(document: BaseModel) -> bytes:
    return (json.dumps(document.model_dump(mode="json"), indent=2) + "\n").encode()


@dataclass(frozen=True, slots=True)
class Snapshot:
    served: Served
    reasons: tuple[str, ...]
    health: Payload
    updates_health: Payload
    appcast: Payload
    beta_appcast: Payload | None
    """None while the gate is closed: the beta feed answers 404."""


def _health_document(served: Served, reasons: tuple[str, ...]) -> FeedHealth:
    stable = served.stable
    return FeedHealth(
        status="degraded" if reasons else "ok",
        latest_version=stable.version if stable else None,
        latest_build=stable.build if stable else None,
        channels=ServedChannels(
            stable=ServedRelease.of(stable) if stable else None,
            beta=ServedRelease.of(served.beta) if served.beta else None,
        ),
        manifest_digest=served.stable_digest,
        beta_enabled=served.beta_enabled,
        reason="; ".join(reasons) if reasons else None,
    )


def _newest_first(items: list[AppcastItem]) -> list[AppcastItem]:
    unique: dict[str, AppcastItem] = {}
    for item in items:
        unique.setdefault(item.version, item)

    def newer_first(a: AppcastItem, b: AppcastItem) -> int:
        return compare_versions(b.version, a.version)

    return sorted(unique.values(), key=functools.cmp_to_key(newer_first))


def build_snapshot(served: Served, reasons: tuple[str, ...]) -> Snapshot:
    minimum = served.minimum_system_version
    stable_items = items_from_manifest(served.stable, minimum_system_version=minimum) if served.stable else []
    appcast = render_appcast(stable_items, title=served.title)
    beta_appcast: Payload | None = None
    if served.beta_enabled:
        beta_items = items_from_manifest(served.beta, minimum_system_version=minimum) if served.beta else []
        body = render_appcast(_newest_first(beta_items + stable_items), title=f"{served.title} (beta)")
        beta_appcast = make_payload(body, XML, PRIVATE_CACHE)
    # What is served, not what the config asks for: nothing served yet is null, never a promise.
    stable_version = served.stable.version if served.stable else None
    return Snapshot(
        served=served,
        reasons=reasons,
        health=make_payload(_json(ServerHealth(status="ok", version=stable_version)), JSON, FEED_CACHE),
        updates_health=make_payload(_json(_health_document(served, reasons)), JSON, FEED_CACHE),
        appcast=make_payload(appcast, XML, FEED_CACHE),
        beta_appcast=beta_appcast,
    )
