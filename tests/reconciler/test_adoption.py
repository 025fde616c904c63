"""Adoption on the VM side: ``accept`` records the baseline, ``status --result`` carries both scrapes.

The feed's metrics are the real ``feed.metrics.FeedMetrics`` served by prometheus_client's server
on loopback; the reconciler CLI runs as the workstation runs it (a subprocess, one RESULT line).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import start_http_server

from feed.metrics import CHANNELS, FeedMetrics
from schemas import RESULT_PREFIX, Status
from tests.ports import free_ports

from .helpers import Vm, bundle, make_vm, run_cli

pytestmark = pytest.mark.timeout(120)


def _ua(version: str) -> bytes:
    return f"Nexy/{version} Sparkle/2.6.4".encode()


@pytest.fixture
def feed_metrics() -> Iterator[tuple[FeedMetrics, str]]:
    metrics = FeedMetrics(routes=CHANNELS.keys())
    port = free_ports(1)[0]
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        yield metrics, f"http://127.0.0.1:{port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _vm(tmp_path: Path, metrics_url: str) -> Vm:
    probes = (
        f"probes:\n  production: {{url: 'https://127.0.0.1:9', timeout_s: 1, metrics_url: '{metrics_url}'}}\n"
    )
    return make_vm(tmp_path, extra=probes)


def _status(vm: Vm) -> Status:
    done = run_cli(vm, "status", "--result")
    assert done.returncode == 0, done.stderr
    line = done.stdout.decode().strip().splitlines()[-1]
    return Status.model_validate_json(line.removeprefix(RESULT_PREFIX))


def _accept(vm: Vm, stable: str) -> None:
    done = run_cli(vm, "accept", stdin=bundle(stable=stable).model_dump_json().encode())
    assert done.returncode in (0, 1), done.stderr  # 1: no daemon runs here (committed all the same)


def test_accept_records_the_baseline_and_status_reports_both(
    tmp_path: Path, feed_metrics: tuple[FeedMetrics, str]
) -> None:
    metrics, url = feed_metrics
    vm = _vm(tmp_path, url)
    for version, times in (("2.0.0.14", 5), ("2.0.0.13", 2)):
        for _ in range(times):
            metrics.check("stable", _ua(version))
    metrics.check("beta", _ua("2.0.0.16"))  # the production feed's beta checks are not stable's
    _accept(vm, "2.0.0.15")  # stable becomes 2.0.0.15: the baseline is the counts now
    baseline = json.loads((vm.root.parent / "state" / "adoption_baseline.json").read_text())
    assert baseline["stable"]["version"] == "2.0.0.15"
    assert baseline["stable"]["counts"] == {"2.0.0.14": 5, "2.0.0.13": 2}
    for version, times in (("2.0.0.15", 3), ("2.0.0.14", 1)):
        for _ in range(times):
            metrics.check("stable", _ua(version))
    metrics.check("stable", b"curl/8.5.0")
    _accept(vm, "2.0.0.15")  # the same version again: the baseline stays
    figures = _status(vm).adoption["stable"]
    assert figures.now.feed == "production" and figures.now.error == ""
    assert figures.now.counts == {"2.0.0.15": 3, "2.0.0.14": 6, "2.0.0.13": 2, "other": 1}
    assert figures.baseline is not None and figures.baseline.version == "2.0.0.15"
    assert figures.baseline.counts == {"2.0.0.14": 5, "2.0.0.13": 2}
    assert "beta" not in _status(vm).adoption  # no staging metrics_url: no beta figures


def test_a_feed_that_does_not_answer_is_an_error_in_the_figures(tmp_path: Path) -> None:
    vm = _vm(tmp_path, f"http://127.0.0.1:{free_ports(1)[0]}/metrics")
    _accept(vm, "2.0.0.15")  # the scrape fails: no baseline, and the accept is not failed for it
    assert not (vm.root.parent / "state" / "adoption_baseline.json").exists()
    figures = _status(vm).adoption["stable"]
    assert figures.now.counts == {} and "ConnectError" in figures.now.error
    assert figures.baseline is None


def test_metrics_url_is_loopback_only(tmp_path: Path) -> None:
    vm = _vm(tmp_path, "http://10.0.0.4:9101/metrics")
    done = run_cli(vm, "status", "--result")
    assert done.returncode == 2
    assert "not a loopback address" in done.stderr.decode()
