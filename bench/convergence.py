"""Benchmark: how fast the reconciler daemon makes the runtime files equal to the desired state.

Runs the real daemon (``python -m reconciler run``) on a temporary VM tree and measures:
- ``p50_ms`` / ``p99_ms``: from a desired-state write (as ``accept`` does it, under the VM lock)
  to every runtime file being equal to it, over at least 200 changes flipping between two releases;
- ``heal_p50_ms``: from a hand edit of the runtime ``manifest.json`` to its repair, edits spaced
  100 ms apart (the watcher is in its short-step mode); ``heal_cold_ms``: the same after the daemon
  has been idle past its hot window (long-step mode);
- ``idle_cpu_s_per_min``: the daemon's CPU time while idle (after the hot window), per minute;
- ``rss_mb``: the daemon's peak resident memory (``ru_maxrss`` when it is reaped; see ``procstat``).

Figures are printed; the last stdout line is one JSON object, also written to
``bench/results/convergence.json``. ``--quick`` keeps the run under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.procstat import cpu_seconds, stop_and_reap  # noqa: E402
from reconciler.desired import write_bundle  # noqa: E402
from reconciler.lock import vm_lock  # noqa: E402
from schemas import BetaGate, Bundle, Manifest, atomic_write, dump_model, utcnow  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "vm"
HOT_SECONDS = 10.0


def manifest(version: str, channel: str) -> Manifest:
    def artifact(name: str) -> dict[str, object]:
        sha = (version.replace(".", "") + channel + name).encode().hex()[:64].ljust(64, "0")
        return {"name": name, "url": f"https://example.invalid/{channel}/{name}", "size": 1000, "sha256": sha}

    return Manifest.create(
        version=version,
        build=version,
        channel=channel,
        artifact=artifact("Nexy.dmg"),
        installer=artifact("Nexy.pkg"),
        published_at=utcnow(),
    )


def release(stable: str, beta: str, gate: bool) -> Bundle:
    return Bundle(
        stable=manifest(stable, "stable"),
        beta=manifest(beta, "beta"),
        gate=BetaGate(enabled=gate, updated_at=utcnow()),
    )


class Tree:
    def __init__(self, root: Path, idle_step_ms: int | None) -> None:
        self.root = root
        # The runtime tree is a sibling of the state directory: the config refuses one inside the other.
        runtime = root / "tree"
        self.manifests = runtime / "server/updates/manifests"
        self.manifests.mkdir(parents=True)
        (runtime / "server/config").mkdir(parents=True)
        shutil.copy(FIXTURES / "unified_config.yaml", runtime / "server/config/unified_config.yaml")
        shutil.copy(FIXTURES / "config.env", runtime / "config.env")
        os.chmod(runtime / "config.env", 0o600)
        self.config = root / "reconciler.yaml"
        # Without --idle-step-ms the daemon's own default is measured, as the VM runs it.
        idle = "" if idle_step_ms is None else f", idle_step_ms: {idle_step_ms}"
        self.config.write_text(
            "layout: {root: tree}\ndesired_dir: state/desired\nstate_dir: state\nresync_seconds: 300\n"
            f"watch: {{hot_seconds: {HOT_SECONDS}{idle}}}\n"
        )
        self.desired = root / "state/desired"
        self.desired.mkdir(parents=True)

    def matches(self, b: Bundle) -> bool:
        assert b.stable is not None
        assert b.beta is not None
        assert b.gate is not None
        stable = dump_model(b.stable)
        try:
            return (
                (self.manifests / "manifest.json").read_bytes() == stable
                and (self.manifests / f"manifest_{b.stable.version}.json").read_bytes() == stable
                and (self.manifests / "manifest_beta.json").read_bytes() == dump_model(b.beta)
                and f'default_version: "{b.stable.version}"'.encode()
                in (self.root / "tree/server/config/unified_config.yaml").read_bytes()
                and f"\nUPDATE_BETA_ENABLED={'true' if b.gate.enabled else 'false'}\n".encode()
                in (self.root / "tree/config.env").read_bytes()
            )
        except FileNotFoundError:
            return False


def wait_until(condition: object, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    while not condition():  # type: ignore[operator]
        if time.perf_counter() - start > timeout:
            raise SystemExit("bench: the daemon did not converge within 10 s")
        time.sleep(0.0005)
    return (time.perf_counter() - start) * 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (under a minute)")
    parser.add_argument(
        "--idle-s",
        type=float,
        default=None,
        help="the idle window in seconds (default 60, 15 with --quick): CPU time is counted in 10 ms "
        "ticks, so a longer window reads a small idle cost more finely",
    )
    parser.add_argument(
        "--idle-step-ms", type=int, default=None, help="the watcher's idle poll step (default: the daemon's)"
    )
    args = parser.parse_args()
    changes, heals, idle_s, cold = (200, 40, 15.0, 1) if args.quick else (500, 100, 60.0, 3)
    if args.idle_s is not None:
        idle_s = args.idle_s
    with tempfile.TemporaryDirectory(prefix="nexy-bench-") as tmp:
        tree = Tree(Path(tmp), args.idle_step_ms)
        daemon = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "--config", str(tree.config), "run"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            status = tree.root / "state/status.json"
            wait_until(lambda: status.exists() and json.loads(status.read_text())["pid"] == daemon.pid, 30)
            bundles = [release("3.0.0.1", "3.0.0.2", True), release("3.0.0.3", "3.0.0.4", False)]
            latencies = []
            for i in range(changes):
                target = bundles[i % 2]
                with vm_lock(tree.root / "state/lock"):
                    write_bundle(tree.desired, target)
                latencies.append(wait_until(lambda t=target: tree.matches(t)))
            current = bundles[(changes - 1) % 2]
            stable = tree.manifests / "manifest.json"

            def heal_once() -> float:
                atomic_write(stable, b'{"hand": "edit"}\n')
                return wait_until(lambda: tree.matches(current))

            heal = []
            for _ in range(heals):
                heal.append(heal_once())
                time.sleep(0.1)
            time.sleep(HOT_SECONDS + 1)  # leave the watcher's hot window before measuring idle
            before = cpu_seconds(daemon.pid)
            time.sleep(idle_s)
            idle_cpu = (cpu_seconds(daemon.pid) - before) * 60 / idle_s
            cold_heal = []
            for n in range(cold):
                if n:
                    time.sleep(HOT_SECONDS + 1)
                cold_heal.append(heal_once())
        finally:
            rss = stop_and_reap(daemon)
    result = {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(pct(latencies, 99), 2),
        "heal_p50_ms": round(statistics.median(heal), 2),
        "heal_cold_ms": round(statistics.median(cold_heal), 2),
        "idle_cpu_s_per_min": round(idle_cpu, 4),
        "rss_mb": round(rss, 1),
        "changes": changes,
        "heals": heals,
        "idle_window_s": idle_s,
        "quick": args.quick,
        "idle_step_ms": args.idle_step_ms,
        "goals": {"p50_ms": 50, "p99_ms": 150, "heal_p50_ms": 50, "idle_cpu_s_per_min": 0.05, "rss_mb": 50},
    }
    print(
        f"desired change -> runtime equal: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms over {changes}"
    )
    print(
        f"hand edit healed: p50 {result['heal_p50_ms']} ms over {heals}; after idle {result['heal_cold_ms']} ms"
    )
    print(f"idle CPU {result['idle_cpu_s_per_min']} s/min over {idle_s:g} s; peak RSS {result['rss_mb']} MB")
    out = REPO / "bench" / "results" / "convergence.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, (json.dumps(result, indent=2) + "\n").encode())
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
