"""Benchmark the update feed: ``/updates/appcast.xml`` under 50 keep-alive connections.

Rules:
- The load comes from a separate process on loopback: ``wrk`` (Debian package ``wrk``) when it is
  installed, else a bounded Python load generator (this script with ``--loadgen``), and the result
  says which. This script never installs anything.
- The server is the real ``nexy-feed`` console script on a temporary runtime tree; its RSS is the
  peak (``ru_maxrss`` when it is reaped after the load; see ``procstat``). When ``nginx`` is
  installed the same bytes are served by nginx (one worker, a static file) under the same load, for
  the ratio.
- Every request carries a Sparkle ``User-Agent`` (``USER_AGENT``), as the app's clients send it, so
  a feed with metrics on counts each one as an appcast check.
- Figures are printed, written to ``bench/results/feed.json`` (atomically), and the last stdout line
  is one JSON object with ``rps``, ``p99_ms``, ``rss_mb`` and ``nginx_rps`` when nginx ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.procstat import stop_and_reap  # noqa: E402
from schemas import Manifest, RuntimeLayout, atomic_write, dump_json, dump_model  # noqa: E402

PATH = "/updates/appcast.xml"
USER_AGENT = "Nexy/2.0.0.15 Sparkle/2.6.4"
GOALS = {"rps": 8000.0, "p99_ms": 25.0, "rss_mb": 80.0}
NGINX_CONF = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = {path} {{ default_type application/rss+xml; alias {tmp}/appcast.xml; }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not answer within {timeout} s")


def make_tree(root: Path) -> None:
    layout = RuntimeLayout(root=root)
    manifest = Manifest.create(
        version="2.0.0.15",
        build="2.0.0.15",
        channel="stable",
        artifact={
            "name": "Nexy.dmg",
            "url": "https://github.com/Seregawpn/Nexy_production/releases/download/Update/Nexy.dmg",
            "size": 98_765_432,
            "sha256": "a" * 64,
            "ed_signature": "EIawm2YkDZ2gBfkEMF2+1VuuTeXnCGZOdnMdVgPPvDZioq7bvDayXqKkIIzSjKMmeFdcFJOHdnba5ZV60+gPBw==",
        },
        installer={
            "name": "Nexy.pkg",
            "url": "https://github.com/Seregawpn/Nexy_production/releases/download/App/Nexy.pkg",
            "size": 99_000_000,
            "sha256": "b" * 64,
        },
        release_notes="Faster wake word & fewer <glitches>.\n" * 8,
        published_at=datetime(2026, 2, 25, 12, 0, tzinfo=UTC),
        minimum_system_version="13.0",
    )
    atomic_write(layout.stable_manifest, dump_model(manifest))
    atomic_write(layout.versioned_manifest(manifest.version), dump_model(manifest))
    atomic_write(
        layout.unified_config_path,
        b'update:\n  default_version: "2.0.0.15"\n  default_build: "2.0.0.15"\n',
    )
    atomic_write(layout.config_env_path, b"UPDATE_BETA_ENABLED=false\n")


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, connections: int, duration: int) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    assert wrk is not None
    args = [
        wrk,
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-H",
        f"User-Agent: {USER_AGENT}",
        url,
    ]
    output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p99 = _wrk_ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rps, "p99_ms": p99, "non_2xx": int(errors.group(1)) if errors else 0}


async def _requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop_at: float, latencies: list[float]
) -> int:
    """Keep-alive requests on one connection until ``stop_at``; returns the non-200 answers."""
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {USER_AGENT}\r\n\r\n".encode()
    failures = 0
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        failures += not head.startswith(b"HTTP/1.1 200")
        if re.search(rb"\r\nconnection: close\r\n", head, re.IGNORECASE):
            break
    return failures


async def _connection(port: int, stop_at: float, latencies: list[float], failures: list[int]) -> None:
    # Servers end keep-alive connections after a number of requests (nginx: 1,000); like wrk, open
    # a new one and go on, without counting the request the close interrupted.
    while time.perf_counter() < stop_at:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            failures.append(await _requests(reader, writer, stop_at, latencies))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()


async def _loadgen(port: int, connections: int, duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[int] = []
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(_connection(port, stop_at, latencies, failures) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return {"rps": len(latencies) / elapsed, "p99_ms": p99, "non_2xx": sum(failures)}


def run_python_load(url: str, connections: int, duration: int) -> dict[str, Any]:
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    args = [
        sys.executable,
        __file__,
        "--loadgen",
        str(port),
        "-c",
        str(connections),
        "--duration",
        str(duration),
    ]
    output = subprocess.run(args, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def load(url: str, tool: str, connections: int, duration: int) -> dict[str, Any]:
    return (
        run_wrk(url, connections, duration) if tool == "wrk" else run_python_load(url, connections, duration)
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def bench_feed(tmp: Path, tool: str, connections: int, duration: int) -> tuple[dict[str, Any], bytes]:
    make_tree(tmp / "vm")
    port = free_port()
    feed_bin = Path(sys.executable).with_name("nexy-feed")
    args = [str(feed_bin), "--root", str(tmp / "vm"), "--port", str(port), "--log-level", "warning"]
    with (tmp / "feed.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=log)
    try:
        wait_http(port)
        url = f"http://127.0.0.1:{port}{PATH}"
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            raw = b"".join(iter(lambda: sock.recv(65536), b""))
        body = raw.split(b"\r\n\r\n", 1)[1]
        load(url, tool, connections, 1)  # warm-up
        result = load(url, tool, connections, duration)
    finally:
        peak = stop_and_reap(process)
    result["rss_mb"] = round(peak, 1)
    return result, body


def bench_nginx(tmp: Path, body: bytes, tool: str, connections: int, duration: int) -> dict[str, Any] | None:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if nginx is None:
        return None
    site = tmp / "nginx"
    site.mkdir()
    site.chmod(0o755)  # workers may run as an unprivileged user
    tmp.chmod(0o755)
    (site / "appcast.xml").write_bytes(body)
    port = free_port()
    (site / "nginx.conf").write_text(NGINX_CONF.format(tmp=site, port=port, path=PATH))
    process = subprocess.Popen(
        [nginx, "-p", str(site), "-c", str(site / "nginx.conf"), "-e", str(site / "nginx-error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(port)
        url = f"http://127.0.0.1:{port}{PATH}"
        load(url, tool, connections, 1)
        return load(url, tool, connections, duration)
    finally:
        stop(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="5 s per run (under a minute in all)")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("-c", "--connections", type=int, default=50)
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--loadgen", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen is not None:
        print(json.dumps(asyncio.run(_loadgen(args.loadgen, args.connections, args.duration))))
        return 0
    duration = 5 if args.quick else args.duration
    tool = "wrk" if shutil.which("wrk") else "python"
    if tool == "python":
        print("wrk is not installed (apt-get install wrk): using the Python load generator, which is slower")
    with tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp_name:
        tmp = Path(tmp_name)
        feed, body = bench_feed(tmp, tool, args.connections, duration)
        nginx = None if args.no_nginx else bench_nginx(tmp, body, tool, args.connections, duration)
    summary: dict[str, Any] = {
        "rps": round(feed["rps"], 1),
        "p99_ms": round(feed["p99_ms"], 2),
        "rss_mb": feed["rss_mb"],
        "non_2xx": feed["non_2xx"],
        "tool": tool,
        "connections": args.connections,
        "duration_s": duration,
        "body_bytes": len(body),
        "cpus": os.cpu_count(),
    }
    if nginx is not None:
        summary["nginx_rps"] = round(nginx["rps"], 1)
        summary["nginx_p99_ms"] = round(nginx["p99_ms"], 2)
        summary["ratio_vs_nginx"] = round(feed["rps"] / nginx["rps"], 3)
    summary["goals"] = GOALS
    summary["goals_met"] = (
        summary["rps"] >= GOALS["rps"]
        and summary["p99_ms"] < GOALS["p99_ms"]
        and summary["rss_mb"] < GOALS["rss_mb"]
    )
    print(f"load tool: {tool}, {args.connections} connections, {duration} s, {len(body)}-byte appcast")
    print(
        f"nexy-feed: {summary['rps']:.0f} req/s, p99 {summary['p99_ms']:.2f} ms, peak RSS {summary['rss_mb']} MB"
    )
    if nginx is not None:
        print(
            f"nginx (1 worker, static file): {summary['nginx_rps']:.0f} req/s, p99 {summary['nginx_p99_ms']:.2f} ms"
        )
    else:
        print("nginx: not run (not installed, or --no-nginx)")
    print(f"goals (>= 8000 req/s, p99 < 25 ms, RSS < 80 MB) met: {summary['goals_met']}")
    atomic_write(REPO / "bench" / "results" / "feed.json", dump_json(summary))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
