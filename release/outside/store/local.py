"""The sandbox store: a directory per fixed tag, served publicly by the sandbox staging feed.

Rules (on top of the ``Store`` protocol's):
- ``<root>/<tag>/`` is the fixed release ``tag``. A missing directory is a fixed release nobody made:
  ReleaseError exit 2, because nexy-release never creates tags. A ``.immutable`` file in it marks an
  immutable release: every write is refused before a byte moves.
- Names starting with a dot are ours (markers, temporaries) and never listed as assets (nor served).
- The release body (GitHub's description) is ``.release-body.md`` beside the assets, written
  atomically; an immutable release's body can still change, as on GitHub.
- Upload streams the source through ``schemas.atomic_stream`` (a dot-named temporary in the tag
  directory, fsynced) while hashing it, checks size and sha256 against what the caller measured,
  and only then renames over the asset: a reader sees the old bytes or the new, never a mix.
  Leftover temporaries from an interrupted upload (any dot file but the marker) are removed first.
  Same sha256 already there: skipped.
- ``verify`` fetches the PUBLIC URL over HTTPS trusting the target's CA bundle and hashes while
  streaming (``stream.verify_public``), retrying while the bytes are stale or the feed is not
  reachable yet.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
from tenacity import wait_exponential

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.probes import ssl_context
from release.outside.store.base import Asset, FixedRelease, UploadResult
from release.outside.stream import CHUNK, HashingWriter, Progress, hash_file, verify_public
from schemas import Target, atomic_write
from schemas.fileio import atomic_stream
from schemas.target import LocalStore as LocalStoreConfig

__all__ = ["BODY_FILE", "IMMUTABLE_MARKER", "LocalStore"]

IMMUTABLE_MARKER = ".immutable"
BODY_FILE = ".release-body.md"
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def _copy_file(
    source: Path,
    dest: Path,
    progress: Progress | None = None,
    check: Callable[[HashingWriter], None] | None = None,
) -> str:
    """Stream ``source`` into ``dest`` through the one atomic writer while hashing; ``check`` may refuse
    the bytes before they take the real name. Returns the sha256 of what was written."""
    with atomic_stream(dest) as handle, open(source, "rb") as src:
        writer = HashingWriter(handle, progress)
        shutil.copyfileobj(src, writer, CHUNK)
        if check is not None:
            check(writer)
    return writer.hexdigest()


class LocalStore:
    """``Store`` over ``target.store.root``; ``client`` and the retry budget are injectable for tests."""

    def __init__(
        self,
        target: Target,
        *,
        client: httpx.Client | None = None,
        verify_attempts: int = 6,
        verify_wait_s: float = 0.5,
    ) -> None:
        if not isinstance(target.store, LocalStoreConfig):
            raise ReleaseError(f"target {target.name!r}: LocalStore needs store.kind 'local'")
        self.target = target
        self.root = target.path(target.store.root)
        self._client = client
        self._attempts = verify_attempts
        self._wait_s = verify_wait_s
        self._digests: dict[Path, tuple[tuple[int, int, int, int], tuple[str, int]]] = {}

    def _digest(self, path: Path) -> tuple[str, int]:
        """``hash_file``, remembered while the file keeps its inode, size and mtime: one publish asks
        about the same assets several times (preflight, plan, skip check), and they can be large."""
        st = path.stat()
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = self._digests.get(path)
        if cached is None or cached[0] != key:
            cached = (key, hash_file(path))
            self._digests[path] = cached
        return cached[1]

    def describe(self) -> str:
        return f"local store {self.root} (served at {self.target.store.download_url})"

    def check_access(self) -> str:
        if not self.root.is_dir():
            raise ReleaseError(f"local store {self.root} does not exist: run ./inv sandbox.up first")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise ReleaseError(f"local store {self.root} is not writable by this user")
        return f"local store {self.root} (writable)"

    def _tag_dir(self, tag: str) -> Path:
        if not _TAG.match(tag):
            raise ReleaseError(f"{tag!r} is not a valid release tag")
        directory = self.root / tag
        if not directory.is_dir():
            raise ReleaseError(
                f"fixed release {tag!r} does not exist in {self.root}: create the fixed release {tag} "
                "by hand; nexy-release never creates tags"
            )
        return directory

    def _asset_path(self, tag: str, name: str) -> Path:
        if not _NAME.match(name):
            raise ReleaseError(f"{name!r} is not a valid asset name")
        return self._tag_dir(tag) / name

    def release(self, tag: str) -> FixedRelease:
        directory = self._tag_dir(tag)
        assets = []
        for path in sorted(directory.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            digest, size = self._digest(path)
            assets.append(Asset(path.name, size, digest, self.target.download_url(tag, path.name)))
        body_file = directory / BODY_FILE
        body = body_file.read_text(encoding="utf-8") if body_file.is_file() else ""
        return FixedRelease(tag, (directory / IMMUTABLE_MARKER).exists(), tuple(assets), body)

    def _writable(self, tag: str) -> Path:
        directory = self._tag_dir(tag)
        if (directory / IMMUTABLE_MARKER).exists():
            raise ReleaseError(
                f"fixed release {tag!r} is immutable: its assets can never change; recreate {tag} by hand "
                "as a mutable release (remove its .immutable marker in the sandbox)"
            )
        for leftover in directory.glob(".*"):
            if leftover.name not in (IMMUTABLE_MARKER, BODY_FILE) and leftover.is_file():
                leftover.unlink(missing_ok=True)
        return directory

    def upload(
        self, tag: str, name: str, source: Path, *, sha256: str, size: int, progress: Progress | None = None
    ) -> UploadResult:
        dest = self._asset_path(tag, name)
        self._writable(tag)  # refuses an immutable release, clears leftover temporaries
        if not source.is_file():
            raise ReleaseError(f"{source} does not exist: nothing to upload to {tag}/{name}")
        url = self.target.download_url(tag, name)
        if dest.is_file() and self._digest(dest) == (sha256, size):
            return UploadResult(Asset(name, size, sha256, url), transferred=False)

        def unchanged(writer: HashingWriter) -> None:
            if (writer.hexdigest(), writer.size) != (sha256, size):
                raise ReleaseError(
                    f"{source} changed while uploading (now {writer.size} bytes, sha256 {writer.hexdigest()[:12]}…, "
                    f"expected {size} bytes, {sha256[:12]}…): {tag}/{name} was left as it was",
                    code=CHECK_FAILED,
                )

        _copy_file(source, dest, progress, check=unchanged)
        return UploadResult(Asset(name, size, sha256, url), transferred=True)

    def download(self, tag: str, name: str, dest: Path, *, progress: Progress | None = None) -> str:
        source = self._asset_path(tag, name)
        if not source.is_file():
            raise ReleaseError(f"fixed release {tag!r} has no asset {name}", code=CHECK_FAILED)
        return _copy_file(source, dest, progress)

    def set_notes(self, tag: str, text: str) -> bool:
        path = self._tag_dir(tag) / BODY_FILE
        try:
            if path.read_text(encoding="utf-8") == text:
                return False
        except FileNotFoundError:
            pass
        atomic_write(path, text.encode("utf-8"))
        return True

    def verify(self, tag: str, name: str, *, sha256: str, size: int) -> bool:
        url = self.target.download_url(tag, name)
        client = self._client or httpx.Client(verify=ssl_context(self.target), timeout=30.0)
        try:
            return verify_public(
                client,
                url,
                sha256=sha256,
                size=size,
                attempts=self._attempts,
                wait=wait_exponential(multiplier=self._wait_s, max=5.0),
            )
        finally:
            if self._client is None:
                client.close()
