"""Adoption figures from the VM's status: shares of checks by client version, and the phased group.

Rules:
- Checks since a baseline are the difference of two cumulative scrapes (``schemas.adoption.
  checks_since``); ``other`` (no Sparkle User-Agent: probes, curl; a malformed one; beyond the
  feed's version bound) is counted apart and left out of the shares.
- Shares are of the Sparkle checks only, rounded for display, exact in the JSON (checks and total).
- The phased rollout follows Sparkle's own rule (Sparkle/SUAppcastDriver.m,
  ``itemIsReadyForPhasedRollout``; groups from Sparkle/SUPhasedUpdateGroupInfo.m): each client
  keeps a random group in 0..6 (``NUM_UPDATE_GROUPS`` 7); a background check offers the item to a
  client of group ``g`` once ``now - pubDate >= phasedRolloutInterval * g``. Manual checks and
  critical updates are never held back. The item's pubDate is the manifest's ``promoted_at`` (else
  ``published_at``), as ``schemas.appcast`` writes it.
- The scrape log (``adoption_scrapes.jsonl`` in the archive directory, the workstation's scratch
  space) keeps the figures each ``adoption`` run saw, at most ``SCRAPE_LOG_LINES`` lines,
  so ``--since DURATION`` has a baseline: the newest scrape at least that old.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from release.errors import ReleaseError
from schemas import Manifest, Target, atomic_write
from schemas.adoption import OTHER

__all__ = [
    "PHASED_GROUPS",
    "SCRAPE_LOG_LINES",
    "PhasedRollout",
    "Scrape",
    "Share",
    "append_scrape",
    "manifest_phased",
    "parse_since",
    "phased_rollout",
    "read_scrapes",
    "scrape_log",
    "shares",
]

PHASED_GROUPS = 7
SCRAPE_LOG_LINES = 500
_DURATION = re.compile(r"^([0-9]+)(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Share:
    version: str
    checks: int
    share: float


def shares(counts: Mapping[str, int]) -> tuple[list[Share], int]:
    """The Sparkle checks by version, most first (ties by version), and the ``other`` checks."""
    sparkle = {version: count for version, count in counts.items() if version != OTHER and count > 0}
    total = sum(sparkle.values())
    rows = [
        Share(version, count, count / total)
        for version, count in sorted(sparkle.items(), key=lambda item: (-item[1], item[0]))
    ]
    return rows, counts.get(OTHER, 0)


@dataclass(frozen=True)
class PhasedRollout:
    interval_s: int
    eligible: int
    """Groups 0..eligible-1 are offered the update by a background check (of ``PHASED_GROUPS``)."""
    next_at: datetime | None
    """When the next group becomes eligible; None once all are."""


def phased_rollout(pub_date: datetime, interval_s: int, now: datetime) -> PhasedRollout:
    """Sparkle's rule: group ``g`` is eligible once ``now - pub_date >= interval_s * g``."""
    elapsed = (now - pub_date).total_seconds()
    # g = 0 is eligible at once; past the pubDate, every whole interval adds the next group.
    eligible = min(PHASED_GROUPS, math.floor(elapsed / interval_s) + 1) if elapsed >= 0 else 0
    next_at = None if eligible >= PHASED_GROUPS else pub_date + timedelta(seconds=interval_s * eligible)
    return PhasedRollout(interval_s, eligible, next_at)


def manifest_phased(manifest: Manifest, now: datetime) -> PhasedRollout | None:
    """The rollout ``manifest``'s appcast item is in; None when it has none or is critical."""
    # A critical item is offered at once to the hosts it is critical for (SUAppcastDriver.m).
    if manifest.phased_rollout_interval is None or manifest.critical_update is not None:
        return None
    pub_date = manifest.promoted_at or manifest.published_at
    return phased_rollout(pub_date, manifest.phased_rollout_interval, now)


def parse_since(value: str) -> timedelta | None:
    """``promote`` (None: the VM's baseline) or a duration ``30m``, ``2h``, ``1d``, ``1w``."""
    if value == "promote":
        return None
    found = _DURATION.match(value.strip())
    if found is None or int(found.group(1)) == 0:
        raise ReleaseError(f"--since {value!r}: use promote or a duration such as 30m, 2h, 1d")
    return timedelta(seconds=int(found.group(1)) * _UNIT_S[found.group(2)])


class Scrape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: datetime
    channel: str
    counts: dict[str, int]


def scrape_log(target: Target) -> Path:
    return target.path(target.archive_dir) / "adoption_scrapes.jsonl"


def read_scrapes(target: Target) -> list[Scrape]:
    """The scrapes seen, oldest first; a line that is not one is skipped (scratch, not state)."""
    try:
        lines = scrape_log(target).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(Scrape.model_validate_json(line))
        except (ValidationError, ValueError):
            continue
    return out


def append_scrape(target: Target, scrape: Scrape) -> None:
    kept = [s.model_dump_json() for s in read_scrapes(target)][-(SCRAPE_LOG_LINES - 1) :]
    data = "\n".join([*kept, scrape.model_dump_json()]) + "\n"
    atomic_write(scrape_log(target), data.encode())
