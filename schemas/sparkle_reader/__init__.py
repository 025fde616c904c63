"""Read an appcast the way a Sparkle 2 client reads it, and pick the update it would offer.

Every rule here is ported from Sparkle's own source (sparkle-project/Sparkle, 2.x; the file is
named where the rule lives) and checked against the appcasts of its test suite
(``Tests/Resources/*.xml``, copied into ``tests/fixtures/sparkle/`` with its licence).

Rules:
- One module per idea, each stating its own rules: :mod:`.document` reads the XML safely
  (``SUAppcast.m``), :mod:`.building` builds the items and fails the feed where Sparkle does
  (``SUAppcastItem.m``), :mod:`.model` is the item and its per-host answers
  (``SPUAppcastItemStateResolver.m``), :mod:`.selection` picks the update (``SUAppcastDriver.m``).
- Pure functions over bytes: no I/O, no clock (``now`` is passed in), no global state.
- The public names are imported from here (``schemas.sparkle_reader``), not from the modules.
"""

from __future__ import annotations

from .building import parse_appcast
from .document import MAX_APPCAST_BYTES
from .model import AppcastError, SkippedUpdate, SparkleItem
from .selection import best_item, macos_items, newest, supported_items

__all__ = [
    "MAX_APPCAST_BYTES",
    "AppcastError",
    "SkippedUpdate",
    "SparkleItem",
    "best_item",
    "macos_items",
    "newest",
    "parse_appcast",
    "supported_items",
]
