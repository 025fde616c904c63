"""Benchmark publishing a large artifact: sha256 throughput and the peak memory of an upload.

Rules:
- One artifact (1 GiB; ``--quick`` 128 MiB) of random bytes in a temporary directory, deleted after.
- ``hash_ratio_vs_openssl``: throughput of ``release.hashing.hash_file`` relative to
  ``openssl dgst -sha256`` on the same (page-cached) file, best of three each. OpenSSL with the CPU's
  SHA instructions is the limit here (coreutils' ``sha256sum`` is no yardstick). Goal ≥ 0.9.
- ``upload_peak_rss_mb``: the peak RSS (``ru_maxrss``) of a separate process that does the store
  side of a publish through the production backend, the real PyGithub client against the fake
  GitHub on loopback (run in this process, streaming to disk): hash the file, replace the asset in
  place (upload under a temporary name, digest check, rename), and verify the public URL by hash.
  Goal ≤ 150 MB, whatever the artifact size.
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

from release.hashing import hash_file  # noqa: E402
from schemas import atomic_write, dump_json  # noqa: E402
from tests.fakes.github import FakeGithub, running_github  # noqa: E402
from tests.production.conftest import target_document  # noqa: E402

GOALS = {"hash_ratio_vs_openssl": 0.9, "upload_peak_rss_mb": 150.0}

CHILD = """
import json, resource, sys, time
from pathlib import Path
from release.hashing import hash_file
from release.store.github import GithubStore
from schemas import Target
target = Target.model_validate(json.loads(sys.argv[1]))
path = Path(sys.argv[2])
started = time.perf_counter()
sha256, size = hash_file(path)
store = GithubStore(target, token=sys.argv[3], environ={}, pace_writes=False)
result = store.upload("UpdateBeta", "Nexy.dmg", path, sha256=sha256, size=size)
verified = store.verify("UpdateBeta", "Nexy.dmg", sha256=sha256, size=size)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_rss_mb": round(peak, 1), "transferred": result.transferred, "verified": verified,
                  "seconds": round(time.perf_counter() - started, 2)}))
"""


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


def upload_rss(path: Path, workdir: Path) -> dict[str, Any]:
    blobs = workdir / "github-blobs"
    blobs.mkdir()
    fake = FakeGithub(root=blobs, owner_repo="acme/Nexy_assets")
    for tag in ("UpdateBeta", "AppBeta", "Update", "App"):
        fake.add_release(tag)
    with running_github(fake):
        fake.put_asset("UpdateBeta", "Nexy.dmg", b"the previous beta")
        document = target_document(workdir, fake.base_url)
        document["store"]["timeout_s"] = 120
        done = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(document), str(path), fake.token],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"the upload process failed: {done.stderr.strip().splitlines()[-1:]}")
    child: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not (child["transferred"] and child["verified"]):
        raise SystemExit(f"the upload did not land intact: {child}")
    return child


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
        upload = upload_rss(artifact, workdir)
        print(
            f"hash + upload + verify of {mib} MiB to the fake GitHub: {upload['seconds']} s, "
            f"peak RSS {upload['peak_rss_mb']} MB (goal ≤ {GOALS['upload_peak_rss_mb']:.0f})"
        )
    result = {
        "hash_ratio_vs_openssl": hashing["hash_ratio_vs_openssl"],
        "upload_peak_rss_mb": upload["peak_rss_mb"],
        "artifact_mb": mib,
        "hash_mib_s": hashing["hash_mib_s"],
        "openssl_mib_s": hashing["openssl_mib_s"],
        "upload_seconds": upload["seconds"],
        "quick": args.quick,
        "goals": GOALS,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic_write(REPO / "bench" / "results" / "publish.json", dump_json(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
