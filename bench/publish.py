"""Benchmark publishing a large artifact: sha256 throughput, and the peak memory of a whole publish.

Rules:
- One artifact (1 GiB; ``--quick`` 128 MiB, and the result says which) of distinct bytes in a
  temporary directory, deleted after, with everything else the run made.
- ``hash_ratio_vs_openssl``: throughput of ``release.outside.stream.hash_file`` relative to
  ``openssl dgst -sha256`` on the same (page-cached) file, best of three each. OpenSSL with the CPU's
  SHA instructions is the limit here (coreutils' ``sha256sum`` is no yardstick). Goal ≥ 0.9.
- ``upload_peak_rss_mb``: the peak RSS (``ru_maxrss`` from ``wait4``, so that process and whatever it
  ran, nothing else) of one real ``inv publish --channel beta`` task process, run as a person runs
  it: the artifact is the beta ``Nexy.dmg`` (a 4 MiB ``Nexy.pkg`` beside it) and the target is
  production-shaped (``tests.fakes.production``): the store is the fake GitHub on loopback through
  PyGithub (replacing an existing asset: temporary upload, digest check, delete, rename) and the VM
  is reached through the fake Azure Run Command, whose script runs the real reconciler against a
  sandbox (real reconciler daemon and feeds). So the figure includes preflight, hashing and EdDSA
  signing of both archives (the target signs with the sandbox key; the archive is memory-mapped and
  hashed pages are released, so mapped file pages do not pile up in the RSS), the archive copy, both
  uploads, the manifest and the one sync. Goal ≤ 150 MB, whatever the artifact size.
- The run is checked, not trusted: exit 0, GitHub holds the artifact's sha256, one Run Command call.
- Figures are printed, written to ``bench/results/publish.json`` (atomically), and the last stdout
  line is one JSON object with ``hash_ratio_vs_openssl``, ``upload_peak_rss_mb`` and ``artifact_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.procstat import maxrss_mb  # noqa: E402
from release.outside.stream import hash_file  # noqa: E402
from schemas import atomic_write, dump_json  # noqa: E402
from tests.conftest import start_sandbox, stop_sandbox  # noqa: E402
from tests.fakes.production import production_target, running_fakes, task_env  # noqa: E402

GOALS = {"hash_ratio_vs_openssl": 0.9, "upload_peak_rss_mb": 150.0}
VERSION = "2.0.0.15"


def make_artifact(path: Path, mib: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as handle:
        for index in range(mib):
            # Distinct blocks without paying for os.urandom on every MiB.
            handle.write(index.to_bytes(8, "little") + block[8:])


def best_of(runs: int, action: Any) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def hash_ratio(path: Path) -> dict[str, float]:
    hash_file(path)  # warm the page cache so both sides read from memory
    ours = best_of(3, lambda: hash_file(path))
    theirs = best_of(
        3, lambda: subprocess.run(["openssl", "dgst", "-sha256", str(path)], check=True, capture_output=True)
    )
    mib = path.stat().st_size / (1 << 20)
    return {
        "hash_ratio_vs_openssl": round(theirs / ours, 3),
        "hash_mib_s": round(mib / ours, 1),
        "openssl_mib_s": round(mib / theirs, 1),
    }


def run_measured(argv: list[str], cwd: Path, env: dict[str, str], logs: Path) -> tuple[int, float, float]:
    """(exit code, peak RSS in MB, seconds) of one process; the RSS is its own (and its children's)."""
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, maxrss_mb(usage.ru_maxrss), seconds


def publish_rss(artifact: Path, sha256: str, workdir: Path) -> dict[str, Any]:
    box = start_sandbox(workdir / "box")
    try:
        with running_fakes(box.target, workdir / "fakes") as (github, azure):
            github.put_asset("UpdateBeta", "Nexy.dmg", b"the previous beta")
            target = production_target(box.target_file, box.target, github, azure, box.root / "fakes.yaml")
            env = task_env(github, azure)
            task = [sys.executable, "-m", "tasks"]  # what ./inv runs, in the repo root as ./inv does
            subprocess.run(
                [*task, "bump", VERSION, "--target", str(target)],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
            )
            inbox = box.root / "release_inbox" / "beta"
            os.link(artifact, inbox / "Nexy.dmg")  # the same 1 GiB file, not a second copy
            make_artifact(inbox / "Nexy.pkg", 4)
            (inbox / "LATEST_CHANGES.md").write_text(f"# Nexy {VERSION}\n\n- A large build.\n")
            code, peak, seconds = run_measured(
                [*task, "publish", "--channel", "beta", "--target", str(target)], REPO, env, workdir
            )
            if code != 0:
                tail = (workdir / "stderr").read_text(errors="replace").strip().splitlines()[-1:]
                raise SystemExit(f"publish exited {code}: {tail}")
            landed = github.assets("UpdateBeta")["Nexy.dmg"].sha256
            if landed != sha256 or azure.posts != 1:
                raise SystemExit(
                    f"the publish did not land intact: sha256 {landed}, {azure.posts} Run Commands"
                )
    finally:
        stop_sandbox(box)
    return {"peak_rss_mb": round(peak, 1), "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 128 MiB artifact instead of 1 GiB")
    args = parser.parse_args()
    mib = 128 if args.quick else 1024
    with tempfile.TemporaryDirectory(prefix="nexy-bench-publish-") as tmp:
        workdir = Path(tmp)
        artifact = workdir / "Nexy.dmg"
        make_artifact(artifact, mib)
        hashing = hash_ratio(artifact)
        print(
            f"sha256: ours {hashing['hash_mib_s']} MiB/s, openssl {hashing['openssl_mib_s']} MiB/s, "
            f"ratio {hashing['hash_ratio_vs_openssl']} (goal ≥ {GOALS['hash_ratio_vs_openssl']})"
        )
        sha256, _ = hash_file(artifact)
        publish = publish_rss(artifact, sha256, workdir)
        print(
            f"inv publish --channel beta of a {mib} MiB Nexy.dmg (fake GitHub + fake Azure Run Command): "
            f"{publish['seconds']} s, peak RSS {publish['peak_rss_mb']} MB "
            f"(goal ≤ {GOALS['upload_peak_rss_mb']:.0f})"
        )
    result = {
        "hash_ratio_vs_openssl": hashing["hash_ratio_vs_openssl"],
        "upload_peak_rss_mb": publish["peak_rss_mb"],
        "artifact_mb": mib,
        "hash_mib_s": hashing["hash_mib_s"],
        "openssl_mib_s": hashing["openssl_mib_s"],
        "publish_seconds": publish["seconds"],
        "measured": "peak RSS of one `inv publish --channel beta` process (wait4 ru_maxrss)",
        "quick": args.quick,
        "goals": GOALS,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write(REPO / "bench" / "results" / "publish.json", dump_json(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
