"""Adoption on the VM: the feeds' appcast checks read at call time, and the baseline ``accept`` keeps.

Rules:
- Only the one-shot commands read the feeds: ``status`` (figures now, with the baseline) and
  ``accept`` (the baseline, taken before it commits a bundle that changes a channel's desired
  version). The daemon never scrapes, so a pass never waits on a feed.
- Each feed is one GET on its loopback ``metrics_url`` (``ProbeConfig``), parsed with
  prometheus_client's own parser; a feed that does not answer is an ``error`` in the figures,
  never a failed command.
- The baseline file (``adoption_baseline.json`` in the state directory) holds each channel's full
  counts (the feed bounds them); the answer is bounded (``schemas.adoption.bounded_counts``) with
  the same versions kept in both, so a difference is always per version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from schemas import Bundle, atomic_write, utcnow
from schemas.adoption import (
    FEED_CHANNEL,
    AdoptionBaseline,
    ChannelAdoption,
    ChannelChecks,
    bounded_counts,
)

from .config import Config
from .desired import read_desired

__all__ = ["adoption", "baseline_path", "record_baseline", "scrape_checks"]

CHECKS = "nexy_feed_appcast_checks_total"
SCRAPE_TIMEOUT_S = 3.0

Channel = Literal["stable", "beta"]
Feed = Literal["production", "staging"]
Fetch = Callable[[str], str]
Scraped = dict[Channel, tuple[Feed, dict[str, int] | None, str]]


def _get(url: str) -> str:
    response = httpx.get(url, timeout=SCRAPE_TIMEOUT_S)
    response.raise_for_status()
    return response.text


def scrape_checks(url: str, channel: str, fetch: Fetch = _get) -> dict[str, int]:
    """The feed's appcast checks of ``channel`` by client version (cumulative since it started)."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(fetch(url)):
        for sample in family.samples:
            if sample.name == CHECKS and sample.labels.get("channel") == channel:
                version = sample.labels.get("version", "other")
                counts[version] = counts.get(version, 0) + int(sample.value)
    return counts


def _scrape_all(config: Config, fetch: Fetch) -> Scraped:
    """Per channel with a metrics URL: (feed, counts or None, error)."""
    out: Scraped = {}
    for feed, probe in config.probes.items():
        if probe.metrics_url is None:
            continue
        try:
            counts: dict[str, int] | None = scrape_checks(str(probe.metrics_url), FEED_CHANNEL[feed], fetch)
            error = ""
        except (httpx.HTTPError, ValueError) as exc:
            counts, error = None, f"{probe.metrics_url}: {type(exc).__name__}: {exc}"[:160]
        out[FEED_CHANNEL[feed]] = (feed, counts, error)
    return out


def baseline_path(config: Config) -> Path:
    return config.state_dir / "adoption_baseline.json"


def _read_baselines(config: Config) -> dict[str, AdoptionBaseline]:
    try:
        raw = json.loads(baseline_path(config).read_text(encoding="utf-8"))
        return {channel: AdoptionBaseline.model_validate(value) for channel, value in raw.items()}
    except (OSError, ValueError, ValidationError, AttributeError):
        return {}


def _desired_versions(config: Config) -> dict[str, str | None]:
    desired = read_desired(config.desired_dir)
    return {
        "stable": desired.stable.version if desired.stable else None,
        "beta": desired.beta.version if desired.beta else None,
    }


def record_baseline(config: Config, bundle: Bundle, fetch: Fetch = _get) -> Callable[[], None]:
    """Scrape the channels whose desired version ``bundle`` changes, now (before the commit);
    the returned call writes them as their baseline (call it once the bundle is committed)."""
    before = _desired_versions(config)
    after = {
        "stable": bundle.stable.version if bundle.stable else None,
        "beta": bundle.beta.version if bundle.beta else None,
    }
    changing: list[Channel] = [channel for channel in ("stable", "beta") if before[channel] != after[channel]]
    if not changing or not any(probe.metrics_url for probe in config.probes.values()):
        return lambda: None
    at = utcnow()
    scraped = _scrape_all(config, fetch)

    def write() -> None:
        baselines = _read_baselines(config)
        before_write = dict(baselines)
        for channel in changing:
            counts = scraped[channel][1] if channel in scraped else None
            if counts is not None:
                baselines[channel] = AdoptionBaseline(version=after[channel], at=at, counts=counts)
            else:
                # An older release's baseline would pass for this one's: none is the honest answer.
                baselines.pop(channel, None)
        if baselines == before_write:
            return
        document = {channel: baseline.model_dump(mode="json") for channel, baseline in baselines.items()}
        atomic_write(baseline_path(config), (json.dumps(document, sort_keys=True) + "\n").encode())

    return write


def adoption(
    config: Config, fetch: Fetch = _get, now: datetime | None = None
) -> dict[Channel, ChannelAdoption]:
    """Each channel's checks now and its baseline, bounded for the RESULT line."""
    at = now or utcnow()
    baselines = _read_baselines(config)
    out: dict[Channel, ChannelAdoption] = {}
    for channel, (feed, counts, error) in _scrape_all(config, fetch).items():
        full = counts or {}
        base = baselines.get(channel)
        # The same versions kept in both, so the workstation's difference is per version.
        keep = _merged(full, base.counts if base is not None else {})
        out[channel] = ChannelAdoption(
            now=ChannelChecks(feed=feed, at=at, counts=bounded_counts(full, keep), error=error),
            baseline=None
            if base is None
            else base.model_copy(update={"counts": bounded_counts(base.counts, keep)}),
        )
    return out


def _merged(now: Mapping[str, int], base: Mapping[str, int]) -> dict[str, int]:
    # Rank by today's counts; a version only the baseline knows ranks last (it still keeps its name).
    return {**{version: 0 for version in base}, **now}
