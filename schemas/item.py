"""The fields an appcast ``<item>`` carries both ways: what ``render_appcast`` writes from an
:class:`~schemas.appcast.AppcastItem` and what the reader parses into a
:class:`~schemas.sparkle_reader.SparkleItem`.

Rules: a field lives here only when both sides mean the same by it, with the same type and
default; one side's own fields (the renderer's ``installation_type=None`` for "not written", the
reader's Sparkle default ``"application"``) stay on that side. Frozen, slotted, keywords only in
practice: the subclasses add their fields after these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["ItemFields"]


@dataclass(frozen=True, slots=True)
class ItemFields:
    """The enclosure (version, strings, url, length, type, signature) and the item's notes,
    dates, system bounds, channel and rollout controls."""

    version: str
    short_version: str | None = None
    title: str | None = None
    url: str | None = None
    length: int | None = None
    type: str | None = None
    ed_signature: str | None = None
    pub_date: datetime | None = None
    description: str | None = None
    description_format: str | None = None
    release_notes_link: str | None = None
    minimum_system_version: str | None = None
    minimum_autoupdate_version: str | None = None
    channel: str | None = None
    critical_update: bool = False
    phased_rollout_interval: int | None = None
