"""Adoption figures: appcast checks by client version, as the VM's ``status`` reports them.

Rules:
- The feeds count checks cumulatively (``nexy_feed_appcast_checks_total``, ``feed.metrics``); the
  reconciler's ``status`` reads them from each feed's loopback metrics endpoint (the probe's
  ``metrics_url``) at the time of the call: production's for ``stable``, staging's for ``beta``
  (each channel's clients check that feed: ``Target.appcast_url``).
- "Since the last promote" needs a baseline, because counters only grow: ``accept`` records the
  counts of a channel at the moment it changes that channel's desired version (promote and
  rollback for stable, publish for beta), on the VM beside status.json; ``status`` returns both,
  and the workstation shows the difference (``checks_since``). A count below its baseline means
  the feed restarted and its counters began again at zero: then the count stands alone.
- Bounded for Run Command's 4 KB answer: at most ``MAX_VERSIONS`` versions a channel (the most
  checked), the rest summed into ``other``; the error is free text (``fit`` may cut it).
- No IP address or client identifier is part of any figure: counts per version only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .names import VERSION_MAX, Name

__all__ = [
    "FEED_CHANNEL",
    "MAX_VERSIONS",
    "OTHER",
    "AdoptionBaseline",
    "ChannelAdoption",
    "ChannelChecks",
    "bounded_counts",
    "checks_since",
    "metrics_url",
]

MAX_VERSIONS = 8
OTHER = "other"
# Which feed a channel's clients check (the probes are named after the feeds).
FEED_CHANNEL: Mapping[str, Literal["stable", "beta"]] = {"production": "stable", "staging": "beta"}

Counts = dict[Name, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelChecks(_Strict):
    """One scrape of a channel's checks: when, from which feed, the counts (or why there are none)."""

    feed: Literal["production", "staging"]
    at: datetime
    counts: Counts = Field(default={}, max_length=MAX_VERSIONS + 1)
    error: str = Field(default="", max_length=160)


class AdoptionBaseline(_Strict):
    """The counts when ``accept`` made ``version`` the channel's desired version."""

    version: str | None = Field(default=None, max_length=VERSION_MAX)
    at: datetime
    counts: Counts = Field(default={}, max_length=MAX_VERSIONS + 1)


class ChannelAdoption(_Strict):
    now: ChannelChecks
    baseline: AdoptionBaseline | None = None


def bounded_counts(counts: Mapping[str, int], keep: Mapping[str, int] | None = None) -> dict[str, int]:
    """``counts`` with at most ``MAX_VERSIONS`` versions: those most checked in ``keep`` (default:
    ``counts`` itself), ties by name; the rest summed into ``other``."""
    ranked = sorted((keep if keep is not None else counts).items(), key=lambda item: (-item[1], item[0]))
    kept = [version for version, _count in ranked if version != OTHER][:MAX_VERSIONS]
    out = {version: counts[version] for version in kept if version in counts}
    rest = sum(count for version, count in counts.items() if version not in out)
    if rest or OTHER in counts:
        out[OTHER] = rest
    return out


def checks_since(now: Mapping[str, int], baseline: Mapping[str, int] | None) -> tuple[dict[str, int], bool]:
    """Checks per version since ``baseline``; True when the counters restarted since (then ``now``
    stands alone: a feed's counters begin at zero when it starts)."""
    if baseline is None:
        return dict(now), False
    if any(now.get(version, 0) < count for version, count in baseline.items()):
        return dict(now), True
    return {version: count - baseline.get(version, 0) for version, count in now.items()}, False


def metrics_url(address: str, port: int) -> str:
    """``http://<address>:<port>/metrics``, an IPv6 address in brackets."""
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/metrics"
