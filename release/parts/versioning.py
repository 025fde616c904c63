"""``bump``: one version across ``VERSION`` and every version-linked file the target lists.

Rules:
- The new version is strict X.Y.Z.W and newer than ``VERSION`` under Sparkle's comparator; a jump
  of more than one major or a component growing by more than 1,000 needs ``--yes`` (a typo would
  be permanent: clients are never offered a smaller number).
- Going back (``bump undo``: to the newest published version below ``VERSION``; or a lower
  version with ``--yes``) works only while ``VERSION`` was never published (no stable, versioned,
  beta or beta-history manifest names it); once it was, it is refused naming that manifest.
- All or nothing: every file is read and rewritten in memory first; only when all of them can be
  updated is anything written, and a failed write rolls back the files already written.
- Only the version changes: a regex replaces its one capture group, TOML is edited with tomlkit
  (comments and layout kept), an Info.plist keeps its format (XML or binary).
- ``manifests/`` is never touched: a manifest names only what was really published.
"""

from __future__ import annotations

import difflib
import plistlib
import re
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from release.errors import ReleaseError
from release.parts.artifacts import archived_beta, archived_beta_path, archived_beta_versions
from release.parts.desired import (
    beta_path,
    read_beta,
    read_stable,
    read_versioned,
    stable_path,
    versioned_path,
)
from schemas import Target, atomic_write, compare_versions, parse_version
from schemas.target import PlistFile, RegexFile, TomlFile, VersionFile

__all__ = [
    "FileChange",
    "apply_changes",
    "current_version",
    "plan_bump",
    "published_in",
    "render_diff",
    "undo_version",
]

MAX_STEP = 1000


@dataclass(frozen=True)
class FileChange:
    path: Path
    old: bytes
    new: bytes


def current_version(workspace: Path) -> str:
    path = workspace / "VERSION"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ReleaseError(f"{path} does not exist: the workspace needs a VERSION file") from None
    try:
        return parse_version(text)
    except ValueError as exc:
        raise ReleaseError(f"{path}: {exc}") from None


def _regex(data: bytes, spec: RegexFile, version: str) -> bytes:
    text = data.decode("utf-8")
    pattern = re.compile(spec.pattern, re.MULTILINE)
    if not pattern.search(text):
        raise ValueError(f"pattern {spec.pattern!r} matches nothing")

    def swap(match: re.Match[str]) -> str:
        start, end = match.span(1)
        whole = match.group(0)
        offset = match.start(0)
        return whole[: start - offset] + version + whole[end - offset :]

    return pattern.sub(swap, text).encode("utf-8")


def _toml(data: bytes, spec: TomlFile, version: str) -> bytes:
    try:
        document = tomlkit.parse(data.decode("utf-8"))
    except TOMLKitError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    node: Any = document
    *parents, leaf = spec.key.split(".")
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"key {spec.key!r} not found")
        node = node[part]
    if not isinstance(node, dict) or leaf not in node:
        raise ValueError(f"key {spec.key!r} not found")
    node[leaf] = version
    return tomlkit.dumps(document).encode("utf-8")


def _plist(data: bytes, spec: PlistFile, version: str) -> bytes:
    fmt = plistlib.FMT_BINARY if data.startswith(b"bplist00") else plistlib.FMT_XML
    try:
        document = plistlib.loads(data)
    except (plistlib.InvalidFileException, ValueError) as exc:
        raise ValueError(f"not a valid plist: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("plist root is not a dictionary")
    missing = [key for key in spec.keys if key not in document]
    if missing:
        raise ValueError(f"plist has no {', '.join(missing)}")
    for key in spec.keys:
        document[key] = version
    return plistlib.dumps(document, fmt=fmt, sort_keys=False)


def _rewrite(data: bytes, spec: VersionFile, version: str) -> bytes:
    if isinstance(spec, RegexFile):
        return _regex(data, spec, version)
    if isinstance(spec, TomlFile):
        return _toml(data, spec, version)
    return _plist(data, spec, version)


def refuse_typo(current: str, version: str) -> None:
    """A jump of more than one major, or a component growing by more than 1,000, is a typo until
    ``--yes`` says otherwise: clients would never be offered a smaller number again."""
    old, new = [int(part) for part in current.split(".")], [int(part) for part in version.split(".")]
    if new[0] - old[0] > 1:
        raise ReleaseError(
            f"{current} → {version} jumps {new[0] - old[0]} majors; a typo? check it, or bump again with --yes"
        )
    for index, (before, after) in enumerate(zip(old, new, strict=False)):
        if after - before > MAX_STEP:
            raise ReleaseError(
                f"{current} → {version}: component {index + 1} grows by {after - before} (more than "
                f"{MAX_STEP}); a typo? check it, or bump again with --yes"
            )


def published_in(target: Target, version: str) -> Path | None:
    """The manifest that says ``version`` was published (stable or beta), or None."""
    stable, beta = read_stable(target), read_beta(target)
    if read_versioned(target, version) is not None:
        return versioned_path(target, version)
    if stable is not None and stable.version == version:
        return stable_path(target)
    if beta is not None and beta.version == version:
        return beta_path(target)
    if archived_beta(target, version) is not None:
        return archived_beta_path(target, version)
    return None


def refuse_published(target: Target, version: str) -> None:
    where = published_in(target, version)
    if where is not None:
        raise ReleaseError(
            f"{version} was already published ({where}); a published version is never taken back: bump forward"
        )


def undo_version(target: Target) -> str:
    """The version before the last bump: the newest published one below ``VERSION``."""
    current = current_version(target.path(target.workspace))
    refuse_published(target, current)
    known = [m.version for m in (read_stable(target), read_beta(target)) if m is not None]
    known += archived_beta_versions(target)
    older = [v for v in known if compare_versions(v, current) < 0]
    if not older:
        raise ReleaseError(
            f"nothing to undo to: no published version is older than {current}; bump X.Y.Z.W --yes"
        )
    return max(older, key=cmp_to_key(compare_versions))


def plan_bump(target: Target, new_version: str, *, yes: bool = False) -> list[FileChange]:
    """Every file change the bump needs, computed without writing anything."""
    try:
        version = parse_version(new_version)
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    workspace = target.path(target.workspace)
    current = current_version(workspace)
    if compare_versions(version, current) == 0:
        raise ReleaseError(
            f"{version} is not newer than the current version {current}: it is already {current}"
        )
    if compare_versions(version, current) < 0:
        if not yes:
            raise ReleaseError(
                f"{version} is not newer than the current version {current}; Sparkle would ignore it "
                "(to take back a bump that was never published: bump undo, or this with --yes)"
            )
        refuse_published(target, current)
    elif not yes:
        refuse_typo(current, version)
    version_file = workspace / "VERSION"
    changes = [FileChange(version_file, version_file.read_bytes(), f"{version}\n".encode())]
    for spec in target.version_files:
        path = workspace / spec.path
        try:
            old = path.read_bytes()
        except FileNotFoundError:
            raise ReleaseError(f"{path} does not exist (listed in the target's version_files)") from None
        try:
            new = _rewrite(old, spec, version)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReleaseError(f"{path}: {exc}; nothing was changed") from None
        changes.append(FileChange(path, old, new))
    return [change for change in changes if change.old != change.new]


def apply_changes(changes: list[FileChange]) -> None:
    """Write every change, or none: a failure restores what was already written."""
    written: list[FileChange] = []
    try:
        for change in changes:
            atomic_write(change.path, change.new)
            written.append(change)
    except OSError as exc:
        for done in reversed(written):
            atomic_write(done.path, done.old)
        raise ReleaseError(f"{change.path}: {exc.strerror or exc}; every file was restored") from None


def render_diff(changes: list[FileChange], base: Path) -> str:
    out: list[str] = []
    for change in changes:
        try:
            name = str(change.path.relative_to(base))
        except ValueError:
            name = str(change.path)
        old = change.old.decode("utf-8", "replace").splitlines(keepends=True)
        new = change.new.decode("utf-8", "replace").splitlines(keepends=True)
        out.extend(difflib.unified_diff(old, new, f"a/{name}", f"b/{name}"))
    return "".join(out)
