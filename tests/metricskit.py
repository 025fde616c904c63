"""Scraping a metrics endpoint in tests: the text parsed by prometheus_client's own parser.

Rules: a scrape is one GET on loopback; samples are keyed by name and labels, so a test asserts
exact figures (``value(samples, "nexy_feed_requests_total", route=..., status=...)``).
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "labelled", "scrape", "value"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    response = httpx.get(url, timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when the endpoint does not list it (a counter never incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    """``{label value: sample value}`` over every sample of ``name``."""
    return {
        dict(labels)[label]: v for (n, labels), v in samples.items() if n == name and label in dict(labels)
    }
