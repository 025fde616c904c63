"""The inbox and the local archive.

Rules:
- Artifacts are read only from ``release_inbox/<channel>/``: ``Nexy.dmg``, ``Nexy.pkg`` and
  ``LATEST_CHANGES.md`` (names from the target). A missing or empty one is named in the error.
- Hashing streams through ``release.outside.stream`` (the one hasher): memory stays flat. With a signer,
  the dmg and pkg are hashed and signed from one mapping of the file (``release.parts.signing``).
- The archive keeps a content-addressed copy (``objects/<sha256>``) of every artifact that was
  published, so ``rollback`` can republish exact bytes without the store's help. An object is
  streamed to a temp name, fsynced and renamed (``atomic_write``'s pattern without holding tens of
  MB in memory); an existing object is never rewritten.
- Beside the objects, ``beta/manifest_<version>.json`` keeps the last manifest each version was
  published to beta with (``publish`` records it), so a staged rollback knows which archived
  bytes were that version: ``manifest_beta.json`` itself only ever names the current beta.
- A version published to beta is one set of bytes, as one released to stable is
  (``refuse_rebuilt_beta``); an inbox archive equal to the previous stable or beta release's is
  named by ``stale_inbox`` (a preflight row; publish asks for ``--yes``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

from release.errors import ReleaseError
from release.outside.stream import CHUNK, HashingWriter, Progress, hash_file
from release.parts.desired import read_beta, read_document, read_stable
from release.parts.signing import Signer, hash_and_sign
from schemas import Channel, Manifest, Target, compare_versions, parse_version, write_model
from schemas.fileio import atomic_stream

__all__ = [
    "InboxFile",
    "archive_beta_manifest",
    "archive_has",
    "archive_object",
    "archive_put",
    "archived_beta",
    "archived_beta_path",
    "archived_beta_versions",
    "inbox_dir",
    "inbox_paths",
    "missing_inbox",
    "refuse_rebuilt_beta",
    "scan_inbox",
    "stale_inbox",
]


@dataclass(frozen=True)
class InboxFile:
    role: str  # "dmg", "pkg" or "notes"
    path: Path
    sha256: str
    size: int
    ed_signature: str | None = None


def inbox_dir(target: Target, channel: Channel) -> Path:
    return target.path(target.inbox_dir) / channel.value


def inbox_paths(target: Target, channel: Channel) -> dict[str, Path]:
    base = inbox_dir(target, channel)
    return {"dmg": base / target.dmg_name, "pkg": base / target.pkg_name, "notes": base / target.notes_name}


def missing_inbox(target: Target, channel: Channel) -> list[str]:
    problems = []
    for path in inbox_paths(target, channel).values():
        if not path.is_file():
            problems.append(f"{path.name} missing")
        elif path.stat().st_size == 0:
            problems.append(f"{path.name} is empty")
    return problems


def scan_inbox(
    target: Target, channel: Channel, progress: Progress | None = None, signer: Signer | None = None
) -> dict[str, InboxFile]:
    problems = missing_inbox(target, channel)
    if problems:
        where = inbox_dir(target, channel)
        raise ReleaseError(f"inbox {where}: {', '.join(problems)}; drop the built artifacts there first")
    files = {}
    for role, path in inbox_paths(target, channel).items():
        if signer is not None and role != "notes":
            sha256, size, signature = hash_and_sign(path, signer, progress)
            files[role] = InboxFile(role, path, sha256, size, signature)
            continue
        sha256, size = hash_file(path, progress)
        files[role] = InboxFile(role, path, sha256, size)
    return files


def archive_object(target: Target, sha256: str) -> Path:
    return target.path(target.archive_dir) / "objects" / sha256


def archive_has(target: Target, sha256: str) -> bool:
    return archive_object(target, sha256).is_file()


def archive_put(target: Target, source: Path, sha256: str) -> bool:
    """Keep a copy of ``source`` under its sha256; False when it was already archived."""
    dest = archive_object(target, sha256)
    if dest.is_file():
        return False
    with atomic_stream(dest, mode=0o444) as out, open(source, "rb") as src:
        writer = HashingWriter(out)
        shutil.copyfileobj(src, writer, CHUNK)
        if writer.hexdigest() != sha256:
            # Content-addressed: a copy that does not hash to its name would poison every rollback.
            raise ReleaseError(f"{source} changed while it was archived; run the task again")
    return True


def _beta_history(target: Target) -> Path:
    return target.path(target.archive_dir) / "beta"


def archived_beta_path(target: Target, version: str) -> Path:
    return _beta_history(target) / f"manifest_{version}.json"


def archive_beta_manifest(target: Target, manifest: Manifest) -> bool:
    """Record ``manifest`` as what beta ``manifest.version`` was; False when already recorded as is."""
    path = archived_beta_path(target, manifest.version)
    if archived_beta(target, manifest.version) == manifest:
        return False
    write_model(path, manifest)
    return True


def archived_beta(target: Target, version: str) -> Manifest | None:
    """The manifest ``version`` was last published to beta with; None when it never was."""
    path = archived_beta_path(target, version)
    return read_document(path, Manifest, "the beta history is damaged")


def refuse_rebuilt_beta(target: Target, manifest: Manifest) -> None:
    """Exit 2 when ``manifest.version`` was already published to beta with other bytes: beta
    clients that took it compare versions only and would never be offered the rebuild."""
    published = archived_beta(target, manifest.version)
    if published is not None and published.fingerprint != manifest.fingerprint:
        raise ReleaseError(
            f"{manifest.version} was already published to beta with other bytes "
            f"({published.fingerprint[:12]}, now {manifest.fingerprint[:12]}): bump to a newer version"
        )


def stale_inbox(target: Target, channel: Channel, version: str) -> list[str]:
    """Each inbox archive that is byte for byte the previous stable or beta release's (a forgotten
    rebuild); only a file of the same size is hashed."""
    previous = [m for m in (read_stable(target), read_beta(target)) if m is not None and m.version != version]
    paths = inbox_paths(target, channel)
    found = []
    for manifest in previous:
        for role, artifact in (("dmg", manifest.artifact), ("pkg", manifest.installer)):
            path = paths[role]
            if (
                path.is_file()
                and path.stat().st_size == artifact.size
                and hash_file(path)[0] == artifact.sha256
            ):
                found.append(f"{path.name} is the same bytes as {manifest.channel.value} {manifest.version}")
    return found


def archived_beta_versions(target: Target) -> list[str]:
    """Every version the beta history knows, oldest first (Sparkle's order)."""
    names = []
    for path in sorted(_beta_history(target).glob("manifest_*.json")):
        try:
            names.append(parse_version(path.name[len("manifest_") : -len(".json")]))
        except ValueError:
            continue
    return sorted(names, key=cmp_to_key(compare_versions))
