"""``./inv adoption`` on a real sandbox: a promote, the simulated clients, their exact shares."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from release.parts.adoption import Scrape, append_scrape
from release.sandbox.clients import CHECKS, plan_checks, population
from tests.conftest import Sandbox, start_sandbox, stop_sandbox
from tests.metricskit import labelled, scrape, value

from .helpers import make_artifacts, one_json

pytestmark = pytest.mark.timeout(600)

MB = 1 << 20
V1 = "2.0.0.15"


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("adoption"))
    try:
        box.inv("bump", V1)
        make_artifacts(box.root, 2 * MB, MB, f"# Nexy {V1}\n\n- first\n")
        for step in (
            ("publish", "--channel", "beta"),
            ("staging.open",),
            ("staging.validate",),
            ("promote",),
        ):
            box.inv(*step)
        yield box
    finally:
        stop_sandbox(box)


def test_the_population_is_exact_and_seeded() -> None:
    assert population(V1) == [("2.0.0.15", 30), ("2.0.0.14", 18), ("2.0.0.13", 12)]
    checks = plan_checks(V1)
    assert len(checks) == CHECKS == 60
    assert checks == plan_checks(V1)  # the same seed, the same checks in the same order
    assert checks != plan_checks(V1, seed=24)
    profiled = [check for check in checks if check.profile is not None]
    assert 0 < len(profiled) < CHECKS
    assert all(check.profile["appVersion"] == check.version for check in profiled if check.profile)


def test_adoption_shows_the_simulated_shares_since_the_promote(promoted: Sandbox) -> None:
    before = one_json(promoted.inv("adoption", "--json").stdout)
    assert before["since"] == "promote" and before["baseline_version"] == V1
    assert before["total"] == 0 and before["versions"] == []  # no Sparkle client checked yet
    calls = len(promoted.remote_calls())
    promoted.inv("sandbox.clients")
    done = promoted.inv("adoption", "--json")
    assert len(promoted.remote_calls()) == calls + 1  # the one status call
    document = one_json(done.stdout)
    assert document["offered"] == V1 and document["channel"] == "stable"
    assert document["total"] == 60 and document["counters_reset"] is False
    assert document["versions"] == [
        {"version": "2.0.0.15", "checks": 30, "share": 0.5},
        {"version": "2.0.0.14", "checks": 18, "share": 0.3},
        {"version": "2.0.0.13", "checks": 12, "share": 0.2},
    ]
    assert document["phased_rollout"] is None
    table = promoted.inv("adoption").stdout
    assert "2.0.0.15 ← offered" in table and "50.0%" in table and "30.0%" in table and "20.0%" in table
    status = promoted.inv("status", check=False).stdout
    assert "adoption (stable, since 2.0.0.15's promote): 2.0.0.15 50%, 2.0.0.14 30%, 2.0.0.13 20%" in status
    # The feed's own figures agree: the profiled clients counted by OS too.
    metrics = promoted.target.remote.metrics  # type: ignore[union-attr]
    samples = scrape(f"http://{metrics.production}/metrics")
    assert value(samples, "nexy_feed_appcast_checks_total", channel="stable", version="2.0.0.13") == 12
    profiled = sum(1 for check in plan_checks(V1) if check.profile is not None)
    by_os = [v for (name, _labels), v in samples.items() if name == "nexy_feed_appcast_checks_by_os_total"]
    assert sum(by_os) == profiled


def test_since_a_duration_subtracts_the_newest_scrape_that_old(promoted: Sandbox) -> None:
    done = promoted.inv("adoption", "--since", "1w", check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: --since 1w: no stable figures")
    bad = promoted.inv("adoption", "--since", "soon", check=False)
    assert bad.returncode == 2 and "use promote or a duration" in bad.stderr
    # A scrape two days old (as a run then would have logged it): --since 1d subtracts it.
    old = datetime.now(UTC) - timedelta(days=2)
    append_scrape(promoted.target, Scrape(at=old, channel="stable", counts={"2.0.0.15": 10, "other": 0}))
    document = one_json(promoted.inv("adoption", "--since", "1d", "--json").stdout)
    assert document["since"] == "1d" and document["baseline_at"] == old.isoformat()
    assert [(row["version"], row["checks"]) for row in document["versions"]] == [
        ("2.0.0.15", 20),
        ("2.0.0.14", 18),
        ("2.0.0.13", 12),
    ]


def test_sandbox_status_lists_the_metrics_urls(promoted: Sandbox) -> None:
    out = promoted.inv("sandbox.status").stdout
    metrics = promoted.target.remote.metrics  # type: ignore[union-attr]
    for endpoint in (metrics.production, metrics.staging, metrics.reconciler):
        assert f"http://{endpoint}/metrics" in out
    # The reconciler serves its own figures there: its passes so far, by result.
    passes = labelled(
        scrape(f"http://{metrics.reconciler}/metrics"), "nexy_reconciler_passes_total", "result"
    )
    assert sum(passes.values()) >= 1
