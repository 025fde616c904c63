"""The reconciler's Prometheus endpoint: the real daemon with metrics on, scraped and parsed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.metricskit import Samples, scrape, value
from tests.ports import free_ports
from tests.webhookkit import Receiver

from .helpers import Daemon, bundle, make_vm, run_cli, wait_for

pytestmark = pytest.mark.timeout(120)

THE_BUNDLE = bundle(stable="2.0.0.15", beta="2.0.0.16", gate=True)


def test_daemon_counts_passes_heals_drift_and_deliveries(tmp_path: Path, receiver: Receiver) -> None:
    failing = Receiver(status=404)
    port = free_ports(1)[0]
    hooks = f"  webhooks:\n    - {{url: '{receiver.url}'}}\n    - {{url: '{failing.url}'}}\n"
    vm = make_vm(tmp_path, extra=hooks + f"metrics:\n  port: {port}\n")
    url = f"http://127.0.0.1:{port}/metrics"
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        accepted = run_cli(vm, "accept", "--wait", "20", stdin=THE_BUNDLE.model_dump_json().encode())
        assert accepted.returncode == 0, accepted.stderr
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, "the bundle applied")
        (vm.manifests / "manifest.json").write_bytes(b"{}\n")  # a hand edit: drift, then a heal
        wait_for(lambda: vm.runtime_matches(THE_BUNDLE), 20, "the hand edit healed")

        def settled() -> Samples | None:
            samples = scrape(url)
            delivered = value(samples, "nexy_reconciler_alert_deliveries_total", sink="webhook")
            failed = value(samples, "nexy_reconciler_alert_delivery_failures_total", sink="webhook")
            journal = value(samples, "nexy_reconciler_alert_deliveries_total", sink="journal")
            # Every alert the journal got was posted to both hooks: one took it, one answered 404.
            done = journal >= 2 and delivered == journal and failed == journal
            return (
                samples
                if done and value(samples, "nexy_reconciler_heals_total", resource="stable") >= 2
                else None
            )

        wait_for(settled, 30, "the heals and every alert delivery counted")
        samples = scrape(url)
        status = vm.status()
        assert status is not None
        passes = {
            result: value(samples, "nexy_reconciler_passes_total", result=result)
            for result in ("in_sync", "healed", "drift", "error")
        }
        assert passes["healed"] >= 2 and passes["error"] == 0 and passes["drift"] == 0
        assert value(samples, "nexy_reconciler_pass_duration_seconds_count") == sum(passes.values())
        # Drift found before each heal is counted by resource; a healed resource was first drifted.
        for resource in ("stable", "config_version", "gate"):
            heals = value(samples, "nexy_reconciler_heals_total", resource=resource)
            assert heals >= 1
            assert value(samples, "nexy_reconciler_drift_total", resource=resource) >= heals
        assert value(samples, "nexy_reconciler_errors_total", resource="pass") == 0
        assert value(samples, "nexy_reconciler_owed_actions") == 0
        last = value(samples, "nexy_reconciler_last_success_timestamp_seconds")
        newest = max(p["at"] for p in status["passes"])
        assert last > 1.7e9 and abs(last - _epoch(newest)) < 1.0
    finally:
        assert daemon.stop() == 0
        failing.close()


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@pytest.mark.parametrize("address", ["0.0.0.0", "10.1.2.3", "::", "localhost"])
def test_a_non_loopback_metrics_address_is_refused(tmp_path: Path, address: str) -> None:
    vm = make_vm(tmp_path, extra=f"metrics:\n  address: '{address}'\n  port: 9109\n")
    for command in ("run", "once"):
        proc = run_cli(vm, command)
        assert proc.returncode == 2
        lines = proc.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "metrics.address" in lines[0]
        assert "loopback" in lines[0]
    assert vm.status() is None  # refused before any pass


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    vm = make_vm(tmp_path)
    daemon = Daemon(vm)
    try:
        daemon.wait_ready()
        assert '"event":"metrics"' not in daemon.log.read_text()
    finally:
        assert daemon.stop() == 0
