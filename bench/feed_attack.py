"""Attack the update feed as one client on the internet could, and measure what it costs.

Rules:
- Real processes on loopback only: the feed is the ``nexy-feed`` console script with its production
  settings (no limit flag given), on a temporary runtime tree; the attackers and the probe are
  separate client code in this script (the probe in its own process, so the attackers' event loop
  never delays it). ``--server`` runs a candidate server on the same app instead, for the
  comparison in docs/performance.md (see ``bench/feed_candidates.py``).
- Figures:
  - ``oversized_header_rss_mb``: the feed's peak RSS while one client sends up to 256 MB of request
    headers (many small fields, then one endless field), with how much it got to send;
  - ``slowloris_probe_success``: the share of a probe loop (a new connection per request) answered
    200 while 2,000 idle connections and 200 header-tricklers are held open (each reopened when
    the feed closes it, as a slowloris does);
  - ``idle_closed_s``: how long a connection that sends nothing stays open;
  - ``rps``, ``p99_ms``, ``rss_mb`` under ``bench/feed.py``'s normal load, and ``ratio_vs_nginx``
    (nginx, one worker, the same bytes, the same load) when nginx is installed;
  - ``rps_metrics_off`` and ``rps_metrics_on``: the same load on ``nexy-feed`` without and with
    ``--metrics-port`` (each request then counted as a request and an appcast check), alternated
    ``METRICS_ROUNDS`` times in one run and the best of each kept, and ``metrics_cost`` =
    1 - on/off (goal ≤ 0.10, issue 23); the endpoint is scraped once after the load, to prove
    it counted.
- RSS through psutil (portable), summed over the server's process tree, sampled every 10 ms.
- This process raises its own soft ``RLIMIT_NOFILE`` to hold the connections.
- Results go to ``bench/results/feed_attack.json`` (``feed_attack-<server>.json`` for a candidate),
  written atomically; the last stdout line is the same JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from feed.limits import Limits  # noqa: E402
from schemas import atomic_write, dump_json  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_feed", REPO / "bench" / "feed.py")
assert _spec is not None
assert _spec.loader is not None
bench_feed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_feed)

PATH = bench_feed.PATH
IDLE_CONNECTIONS = 2000
TRICKLERS = 200
OVERSIZED_BYTES = 256 * 1024 * 1024
RSS_CEILING = 1024 * 1024 * 1024
IDLE_CAP_S = 60.0  # an idle connection still open then is reported as 60 s: "never closed"
METRICS_ROUNDS = 3
SERVERS = ("nexy-feed", "uvicorn-httptools", "uvicorn-h11", "granian-asgi", "granian-rsgi", "nginx-proxy")


@dataclass(frozen=True)
class Target:
    """Where the attacks go: a port, and with ``--tls`` the CA that signed the feed's certificate."""

    port: int
    ca: Path | None = None

    def context(self) -> ssl.SSLContext | None:
        if self.ca is None:
            return None
        context = ssl.create_default_context(cafile=str(self.ca))
        return context

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = self.context()
        return await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=context, server_hostname="127.0.0.1" if context else None
        )


def make_certificate(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 (trustme, a test dependency): cert, key, CA."""
    import trustme

    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    cert, key, ca = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    return cert, key, ca


def goals() -> dict[str, float]:
    return {
        "oversized_header_rss_mb": 100.0,
        "slowloris_probe_success": 0.99,
        "idle_closed_s": Limits().header_timeout + 1.0,
        "ratio_vs_nginx": 0.8,
        "metrics_cost": 0.10,
    }


def raise_descriptor_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class RssSampler:
    """Peak RSS (MB) of a process and its children, sampled every 10 ms in a thread.

    Listing children scans every process on Linux: the list is refreshed once a second only, so
    the sampler does not take the CPU the server is measured on.
    """

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.members = self._members()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _members(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return [self.process, *self.process.children(recursive=True)]
        return [self.process]

    def current(self) -> int:
        total = 0
        for member in self.members:
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
        return total

    def _run(self) -> None:
        refreshed = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - refreshed > 1.0:
                self.members, refreshed = self._members(), time.monotonic()
            self.peak = max(self.peak, self.current())
            self._stop.wait(0.01)

    def __enter__(self) -> RssSampler:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / (1024 * 1024), 1)


def start_server(
    kind: str,
    root: Path,
    port: int,
    log: Path,
    tls: tuple[Path, Path] | None = None,
    metrics_port: int | None = None,
) -> subprocess.Popen[bytes]:
    if kind == "nexy-feed":
        feed_bin = Path(sys.executable).with_name("nexy-feed")
        args = [str(feed_bin), "--root", str(root), "--port", str(port), "--log-level", "warning"]
        if metrics_port is not None:
            args += ["--metrics-port", str(metrics_port)]
        if tls is not None:
            args += ["--certfile", str(tls[0]), "--keyfile", str(tls[1])]
    else:
        candidates = REPO / "bench" / "feed_candidates.py"
        args = [sys.executable, str(candidates), kind, "--root", str(root), "--port", str(port)]
    with log.open("ab") as handle:
        return subprocess.Popen(args, stdout=handle, stderr=handle, start_new_session=True)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole session: a candidate may be several processes (nginx-proxy)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    bench_feed.stop(process)


# The attacks ------------------------------------------------------------------------------------


async def _read_answer(reader: asyncio.StreamReader, timeout: float) -> bytes:
    with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
        return await asyncio.wait_for(reader.read(4096), timeout)
    return b""


async def oversized(target: Target, total: int, piece: bytes, sampler: RssSampler) -> dict[str, Any]:
    """Send ``total`` bytes of header lines made of ``piece``; how far it got and what came back.

    A server that takes it all would grow by gigabytes on a machine shared with others: the attack
    stops once the server passes ``RSS_CEILING`` and says so.
    """
    reader, writer = await target.open()
    writer.write(f"GET {PATH} HTTP/1.1\r\nHost: feed\r\n".encode())
    chunk = piece * max(1, 65536 // len(piece))
    sent = 0
    started = time.perf_counter()
    try:
        while sent < total:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), 10.0)
            sent += len(chunk)
            if reader.at_eof() or sampler.peak > RSS_CEILING:
                break
    except (ConnectionError, TimeoutError, ssl.SSLError):
        pass
    answer = await _read_answer(reader, 2.0)
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        await writer.wait_closed()
    status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "connection closed"
    if sampler.peak > RSS_CEILING:
        status = f"stopped: server RSS passed {RSS_CEILING >> 20} MB"
    return {
        "sent_mb": round(sent / 1e6, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "answer": status,
    }


async def _hold_idle(target: Target, stop: asyncio.Event, opened: list[int]) -> None:
    """A connection that sends nothing, not even a TLS ClientHello; reopened when closed."""
    port = target.port
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        opened[0] += 1
        closed = asyncio.ensure_future(reader.read())
        halt = asyncio.ensure_future(stop.wait())
        with contextlib.suppress(ConnectionError):
            await asyncio.wait({closed, halt}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        halt.cancel()
        writer.close()


async def _trickle(target: Target, stop: asyncio.Event, opened: list[int]) -> None:
    """A request head sent one short header a second, never finished; reopened when closed."""
    while not stop.is_set():
        try:
            reader, writer = await target.open()
            opened[0] += 1
            writer.write(f"GET {PATH} HTTP/1.1\r\nHost: feed\r\n".encode())
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"X-Slow: s\r\n")
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                        break
        except (OSError, ssl.SSLError):
            await asyncio.sleep(0.2)
        else:
            writer.close()


async def _idle_closed(port: int) -> float:
    """Seconds until the feed closes a connection that sends nothing (with TLS: no handshake)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    with contextlib.suppress(ConnectionError, TimeoutError):
        await asyncio.wait_for(reader.read(), IDLE_CAP_S)
    elapsed = time.perf_counter() - started
    writer.close()
    return round(elapsed, 2)


async def _ramp(
    port: int, stop: asyncio.Event, count: int, worker: Any, opened: list[int]
) -> list[asyncio.Task[None]]:
    tasks = []
    for index in range(count):
        tasks.append(asyncio.create_task(worker(port, stop, opened)))
        if index % 100 == 99:
            await asyncio.sleep(0.05)  # a burst per 100: no SYN backlog overflow on the attacker's side
    return tasks


async def slowloris(target: Target, duration: float, idle: int, tricklers: int) -> dict[str, Any]:
    stop = asyncio.Event()
    opened_idle, opened_trickle = [0], [0]
    idle_probe = asyncio.create_task(_idle_closed(target.port))
    tasks = await _ramp(target, stop, idle, _hold_idle, opened_idle)
    tasks += await _ramp(target, stop, tricklers, _trickle, opened_trickle)
    await asyncio.sleep(1.0)
    ca = ["--ca", str(target.ca)] if target.ca else []
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--probe",
        str(target.port),
        "--duration",
        str(duration),
        *ca,
        stdout=asyncio.subprocess.PIPE,
    )
    output, _ = await probe.communicate()
    stop.set()
    idle_closed = await idle_probe
    await asyncio.wait(tasks, timeout=10.0)
    probes: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return {
        **probes,
        "idle_closed_s": idle_closed,
        "idle_connections_opened": opened_idle[0],
        "trickler_connections_opened": opened_trickle[0],
    }


def probe_loop(target: Target, duration: float) -> dict[str, Any]:
    """One request per new connection, one after another; a probe not answered in 3 s failed."""
    context = target.context()
    ok = total = 0
    request = f"GET {PATH} HTTP/1.1\r\nHost: feed\r\nConnection: close\r\n\r\n".encode()
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        total += 1
        try:
            with socket.create_connection(("127.0.0.1", target.port), timeout=3.0) as raw:
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            ok += answer.startswith(b"HTTP/1.1 200 ")
        except (OSError, ssl.SSLError):
            pass
        time.sleep(0.02)
    return {
        "probes": total,
        "probes_ok": ok,
        "slowloris_probe_success": round(ok / total, 4) if total else 0.0,
    }


# The run ----------------------------------------------------------------------------------------


def _wait_ready(target: Target, timeout: float = 30.0) -> None:
    context = target.context()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", target.port), timeout=1) as raw:
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1"):
                    return
        except (OSError, ssl.SSLError):
            time.sleep(0.05)
    raise SystemExit(f"server on port {target.port} did not answer within {timeout} s")


def attack(kind: str, tmp: Path, quick: bool, tls: bool) -> dict[str, Any]:
    root = tmp / "vm"
    bench_feed.make_tree(root)
    port = bench_feed.free_port()
    cert, key, ca = make_certificate(tmp) if tls else (None, None, None)
    target = Target(port, ca)
    pair = (cert, key) if cert is not None and key is not None else None
    process = start_server(kind, root, port, tmp / f"{kind}.log", pair)
    result: dict[str, Any] = {}
    try:
        _wait_ready(target)
        result["rss_idle_mb"] = round(RssSampler(process.pid).current() / (1024 * 1024), 1)
        oversized_runs = {}
        peak = 0.0
        for name, piece in (
            ("many_small_fields", b"X-Pad: " + b"p" * 89 + b"\r\n"),
            ("one_endless_field", b"p" * 128),
        ):
            with RssSampler(process.pid) as sampler:
                oversized_runs[name] = asyncio.run(oversized(target, OVERSIZED_BYTES, piece, sampler))
            oversized_runs[name]["peak_rss_mb"] = sampler.peak_mb
            peak = max(peak, sampler.peak_mb)
            _wait_ready(target)  # still serving
        result["oversized_header_rss_mb"] = peak
        result["oversized"] = oversized_runs
        duration = 12.0 if quick else 40.0
        with RssSampler(process.pid) as sampler:
            siege = asyncio.run(slowloris(target, duration, IDLE_CONNECTIONS, TRICKLERS))
        result.update(siege)
        result["slowloris_rss_mb"] = sampler.peak_mb
    finally:
        stop_server(process)
    return result


def normal_load(kind: str, tmp: Path, quick: bool) -> dict[str, Any]:
    """bench/feed.py's load on the server, then on nginx with the same bytes."""
    duration = 5 if quick else 15
    tool = "wrk" if shutil.which("wrk") else "python"
    root = tmp / "load"
    bench_feed.make_tree(root / "vm")
    port = bench_feed.free_port()
    process = start_server(kind, root / "vm", port, tmp / f"{kind}-load.log")
    try:
        bench_feed.wait_http(port)
        url = f"http://127.0.0.1:{port}{PATH}"
        bench_feed.load(url, tool, 50, 1)
        with RssSampler(process.pid) as sampler:
            figures = bench_feed.load(url, tool, 50, duration)
        served = _get_body(port)
    finally:
        stop_server(process)
    summary: dict[str, Any] = {
        "rps": round(figures["rps"], 1),
        "p99_ms": round(figures["p99_ms"], 2),
        "rss_mb": sampler.peak_mb,
        "non_2xx": figures["non_2xx"],
        "load_tool": tool,
        "load_duration_s": duration,
    }
    nginx = bench_feed.bench_nginx(root, served, tool, 50, duration)
    if nginx is not None:
        summary["nginx_rps"] = round(nginx["rps"], 1)
        summary["ratio_vs_nginx"] = round(figures["rps"] / nginx["rps"], 3)
    return summary


def _metrics_round(root: Path, tool: str, duration: int, log: Path, metrics: bool) -> tuple[float, float]:
    """One normal load on nexy-feed; (req/s, appcast checks the metrics counted, 0 when off)."""
    port = bench_feed.free_port()
    metrics_port = bench_feed.free_port() if metrics else None
    process = start_server("nexy-feed", root, port, log, metrics_port=metrics_port)
    try:
        bench_feed.wait_http(port)
        url = f"http://127.0.0.1:{port}{PATH}"
        bench_feed.load(url, tool, 50, 1)
        figures = bench_feed.load(url, tool, 50, duration)
        counted = 0.0
        if metrics_port is not None:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
            counted = sum(
                sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "nexy_feed_appcast_checks"
                for sample in family.samples
                if sample.name.endswith("_total")
            )
    finally:
        stop_server(process)
    return float(figures["rps"]), counted


def metrics_cost(tmp: Path, quick: bool) -> dict[str, Any]:
    """The same load with metrics off and on, alternated; the best of each (the least disturbed)."""
    duration = 5 if quick else 15
    tool = "wrk" if shutil.which("wrk") else "python"
    root = tmp / "metrics" / "vm"
    bench_feed.make_tree(root)
    off: list[float] = []
    on: list[float] = []
    counted = 0.0
    for round_ in range(METRICS_ROUNDS):
        off.append(_metrics_round(root, tool, duration, tmp / f"metrics-off-{round_}.log", False)[0])
        rps, counted = _metrics_round(root, tool, duration, tmp / f"metrics-on-{round_}.log", True)
        on.append(rps)
    return {
        "rps_metrics_off": round(max(off), 1),
        "rps_metrics_on": round(max(on), 1),
        "metrics_cost": round(1 - max(on) / max(off), 3),
        "metrics_rounds": {"off": [round(r, 1) for r in off], "on": [round(r, 1) for r in on]},
        "metrics_checks_counted": counted,
    }


def _get_body(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    return raw.split(b"\r\n\r\n", 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="under a minute in all")
    parser.add_argument("--server", choices=SERVERS, default="nexy-feed")
    parser.add_argument("--no-load", action="store_true", help="only the attacks")
    parser.add_argument(
        "--tls", action="store_true", help="attack a TLS listener (as on :443); the normal load stays plain"
    )
    parser.add_argument("--ca", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe is not None:
        print(json.dumps(probe_loop(Target(args.probe, args.ca), args.duration)))
        return 0
    descriptors = raise_descriptor_limit()
    if descriptors < IDLE_CONNECTIONS + TRICKLERS + 100:
        raise SystemExit(
            f"this process may open only {descriptors} descriptors: raise the hard RLIMIT_NOFILE"
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-feed-attack-") as tmp_name:
        tmp = Path(tmp_name)
        if args.tls and args.server != "nexy-feed":
            raise SystemExit("--tls is for nexy-feed only")
        result = attack(args.server, tmp, args.quick, args.tls)
        if not args.no_load:
            result.update(normal_load(args.server, tmp, args.quick))
            if args.server == "nexy-feed":
                result.update(metrics_cost(tmp, args.quick))
    target = goals()
    met = {
        "oversized_header_rss_mb": result["oversized_header_rss_mb"] <= target["oversized_header_rss_mb"],
        "slowloris_probe_success": result["slowloris_probe_success"] >= target["slowloris_probe_success"],
        "idle_closed_s": result["idle_closed_s"] <= target["idle_closed_s"],
    }
    if "ratio_vs_nginx" in result:
        met["ratio_vs_nginx"] = result["ratio_vs_nginx"] >= target["ratio_vs_nginx"]
    if "metrics_cost" in result:
        met["metrics_cost"] = result["metrics_cost"] <= target["metrics_cost"]
    summary: dict[str, Any] = {
        "server": args.server,
        "listener": "tls" if args.tls else "plain",
        **result,
        "goals": target,
        "goals_met": all(met.values()),
        "goals_missed": sorted(name for name, ok in met.items() if not ok),
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    name = "feed_attack.json" if args.server == "nexy-feed" else f"feed_attack-{args.server}.json"
    if args.tls:
        name = name.replace(".json", "-tls.json")
    print(
        f"server: {args.server}, {summary['listener']} listener ({summary['cpus']} cpus, load average {summary['load_average']})"
    )
    for run, figures in result["oversized"].items():
        print(
            f"256 MB of headers ({run}): peak RSS {figures['peak_rss_mb']} MB, {figures['answer']} after {figures['sent_mb']} MB"
        )
    print(
        f"slowloris ({IDLE_CONNECTIONS} idle + {TRICKLERS} tricklers): {result['probes_ok']}/{result['probes']} probes "
        f"answered ({result['slowloris_probe_success']:.4f}), peak RSS {result['slowloris_rss_mb']} MB"
    )
    print(
        f"an idle connection was closed after {result['idle_closed_s']} s (goal <= {target['idle_closed_s']} s)"
    )
    if "rps" in result:
        ratio = (
            f", {result['ratio_vs_nginx']} of nginx's {result['nginx_rps']:.0f}"
            if "nginx_rps" in result
            else ""
        )
        print(
            f"normal load: {result['rps']:.0f} req/s, p99 {result['p99_ms']} ms, RSS {result['rss_mb']} MB{ratio}"
        )
    if "metrics_cost" in result:
        print(
            f"metrics: {result['rps_metrics_off']:.0f} req/s off, {result['rps_metrics_on']:.0f} req/s on "
            f"(cost {result['metrics_cost']:.1%}, goal <= {target['metrics_cost']:.0%}; "
            f"{result['metrics_checks_counted']:.0f} checks counted in the last round)"
        )
    print(f"goals met: {summary['goals_met']} {summary['goals_missed'] or ''}")
    atomic_write(REPO / "bench" / "results" / name, dump_json(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
