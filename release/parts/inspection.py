"""The inbox archives against what the release claims: preflight's archive rows.

Rules:
- What is compared, as Sparkle and Gatekeeper will: the app inside ``Nexy.dmg`` (and the one in
  ``Nexy.pkg``'s payload) has ``CFBundleVersion`` equal to the manifest's build and
  ``CFBundleShortVersionString`` equal to the version (publish writes build = version: a client
  whose app says another build than the appcast loops on "update available"); ``SUPublicEDKey``
  equal to the signing key's public key (or none when the target does not sign); ``SUFeedURL``
  equal to the target's stable appcast URL; ``LSMinimumSystemVersion`` present (publish copies it
  into the manifest, so the appcast's ``sparkle:minimumSystemVersion`` is the app's own); the pkg's
  PackageInfo version equal to the version; the release notes' first heading naming the version.
- Code signature: ``_CodeSignature/CodeResources`` must be in the app on every platform. On macOS
  also ``codesign --verify --deep --strict`` (on the mounted app), ``spctl --assess --type open
  --context context:primary-signature`` and ``xcrun stapler validate`` on the dmg; elsewhere that
  row says "checked on macOS only".
- Each failure is one line: what was found, what was expected, what to do. An archive that cannot
  be read fails its row and each row that needed it says "not checked" and why; with inbox files
  missing, one ``archives`` row says "not checked" (the inbox row names them).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

from release.parts.archives import ArchiveError, Contents, read_dmg, read_pkg
from release.parts.artifacts import inbox_paths, missing_inbox
from schemas import Channel, CheckResult, Target

__all__ = ["app_minimum_system", "archive_rows", "inbox_minimum_system", "notes_heading"]

_MINIMUM: Final = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")  # schemas.Manifest.minimum_system_version
_REBUILD: Final = "rebuild the app from the bumped workspace and drop it in the inbox again"
_TIMEOUT_S: Final = 300


def _row(name: str, problems: list[str], ok_detail: str) -> CheckResult:
    return CheckResult(name=name, ok=not problems, detail=("; ".join(problems) or ok_detail)[:300])


def _tool(argv: list[str]) -> str | None:
    """None when the macOS tool passes, else its last line of output."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{argv[0]}: {type(exc).__name__}"
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return f"{' '.join(argv[:2])}: {(lines or [f'exit {done.returncode}'])[-1][:120]}"


def _codesign(app: Path) -> list[str]:
    failed = _tool(["codesign", "--verify", "--deep", "--strict", str(app)])
    return [failed] if failed else []


def _read(role: str, path: Path) -> tuple[Contents | None, str]:
    if not path.is_file() or path.stat().st_size == 0:
        return None, f"{path.name} missing or empty"
    try:
        if role == "dmg":
            return read_dmg(path, inspect=_codesign if sys.platform == "darwin" else None), ""
        return read_pkg(path), ""
    except ArchiveError as exc:
        return None, f"{path.name}: {exc}"
    except OSError as exc:
        return None, f"{path.name} cannot be read ({exc.strerror or type(exc).__name__})"


def _versions(name: str, contents: Contents, version: str) -> list[str]:
    assert contents.app is not None
    info, app = contents.app.info, contents.app.path
    problems = []
    for key in ("CFBundleVersion", "CFBundleShortVersionString"):
        found = info.get(key)
        if found != version:
            expected = "the manifest's build" if key == "CFBundleVersion" else "the version"
            problems.append(f"{name}: {app} {key} {found!r}, expected {version} ({expected}); {_REBUILD}")
    return problems


def _key(info: dict[str, Any], public: str | None, signs: bool) -> list[str]:
    found = info.get("SUPublicEDKey")
    shown = found.strip() if isinstance(found, str) else found
    if not signs:
        return (
            [f"SUPublicEDKey {shown} but the target does not sign: every update would be rejected"]
            if found
            else []
        )
    if public is None:
        return ["not checked: the signing key did not load (see the signing key row)"]
    if shown != public:
        return [
            f"SUPublicEDKey {shown!r}, expected {public} (the signing key's public key): clients would reject "
            "the update; put the key's public key in the app's Info.plist and rebuild"
        ]
    return []


def app_minimum_system(contents: Contents | None) -> str | None:
    """The app's ``LSMinimumSystemVersion`` when it has a valid one (publish puts it in the manifest)."""
    value = contents.app.info.get("LSMinimumSystemVersion") if contents and contents.app else None
    return value if isinstance(value, str) and _MINIMUM.match(value) else None


def inbox_minimum_system(target: Target, channel: Channel) -> str | None:
    """The inbox dmg's app ``LSMinimumSystemVersion`` (None when unreadable: preflight said why)."""
    contents, _ = _read("dmg", inbox_paths(target, channel)["dmg"])
    return app_minimum_system(contents)


def notes_heading(text: str) -> str | None:
    """The first Markdown heading of the release notes, without its ``#``s."""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            return line.strip().lstrip("#").strip()
    return None


def _notes(path: Path, version: str) -> CheckResult:
    try:
        heading = notes_heading(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return _row("release notes", [f"{path.name} cannot be read"], "")
    named = heading is not None and version in re.split(r"[\s()\[\],:;]+|\bv(?=\d)", heading)
    problem = (
        f"{path.name} heading {heading!r} does not name {version}: stale notes? write this release's notes"
    )
    return _row(
        "release notes", [] if named else [problem], f"{path.name} heading {heading!r} names {version}"
    )


def _signature(dmg: Contents | None, path: Path, why: str) -> list[CheckResult]:
    if dmg is None or dmg.app is None:
        return [_row("code signature", [f"not checked: {why}"], "")]
    missing = [] if dmg.app.code_resources else [
        f"{dmg.app.path} has no Contents/_CodeSignature/CodeResources: the app is not signed; "
        "sign it (codesign --deep --options runtime) and rebuild the dmg"
    ]  # fmt: skip
    rows = [_row("code signature", missing, f"{dmg.app.path}/Contents/_CodeSignature/CodeResources present")]
    if sys.platform != "darwin":
        rows.append(
            _row(
                "Gatekeeper", [], "codesign --verify, spctl --assess, stapler validate: checked on macOS only"
            )
        )
        return rows
    rows.append(_row("codesign", dmg.notes, f"codesign --verify --deep --strict {dmg.app.path}: valid"))
    spctl = ["spctl", "--assess", "--type", "open", "--context", "context:primary-signature", str(path)]
    failed = [line for line in (_tool(spctl), _tool(["xcrun", "stapler", "validate", str(path)])) if line]
    rows.append(
        _row("Gatekeeper", failed, f"{path.name}: spctl accepts it, the notarization ticket is stapled")
    )
    return rows


def archive_rows(target: Target, channel: Channel, version: str, public_key: str | None) -> list[CheckResult]:
    """The archive rows of preflight for the channel's inbox, expecting ``version``."""
    paths = inbox_paths(target, channel)
    missing = missing_inbox(target, channel)
    if missing:
        # The inbox row names what is missing; one row here, not one "not checked" per comparison.
        return [_row("archives", [f"not checked: {'; '.join(missing)}"], "")]
    dmg, dmg_why = _read("dmg", paths["dmg"])
    pkg, pkg_why = _read("pkg", paths["pkg"])
    rows = [
        _row("dmg contents", [dmg_why] if dmg is None else [], f"{dmg.kind if dmg else ''}, "
             f"{dmg.app.path if dmg and dmg.app else ''} ({dmg.reader if dmg else ''})"),
        _row("pkg contents", [pkg_why] if pkg is None else [], f"{pkg.kind if pkg else ''}, "
             f"{pkg.app.path if pkg and pkg.app else ''} ({pkg.reader if pkg else ''})"),
    ]  # fmt: skip
    apps = [(paths[role].name, found) for role, found in (("dmg", dmg), ("pkg", pkg)) if found is not None]
    unread = "; ".join(why for why in (dmg_why, pkg_why) if why)
    skipped = [f"not checked: {unread}"] if unread else []
    versions = [problem for name, found in apps for problem in _versions(name, found, version)]
    rows.append(
        _row("app version", versions + skipped, f"CFBundleVersion and CFBundleShortVersionString {version}")
    )
    signs = target.signing is not None
    keys = [
        f"{name}: {p}" for name, found in apps if found.app for p in _key(found.app.info, public_key, signs)
    ]
    rows.append(
        _row(
            "app SUPublicEDKey",
            keys + skipped,
            f"the signing key {public_key}" if signs else "none (not signing)",
        )
    )
    feed = target.appcast_url(Channel.STABLE)
    feeds = [
        f"{name}: SUFeedURL {found.app.info.get('SUFeedURL')!r}, expected {feed}; set SUFeedURL in the app's Info.plist"
        for name, found in apps
        if found.app and found.app.info.get("SUFeedURL") != feed
    ]
    rows.append(_row("app SUFeedURL", feeds + skipped, feed))
    minimum = app_minimum_system(dmg)
    lows = [] if minimum or dmg is None else [
        f"LSMinimumSystemVersion {dmg.app.info.get('LSMinimumSystemVersion') if dmg.app else None!r} "
        "is not a macOS version like 13.0; set the app's deployment target and rebuild"
    ]  # fmt: skip
    rows.append(_row("app minimum macOS", lows + ([f"not checked: {dmg_why}"] if dmg is None else []),
                     f"LSMinimumSystemVersion {minimum} (the manifest's minimum_system_version)"))  # fmt: skip
    pkg_version = pkg.pkg_version if pkg else None
    pkg_problems = [] if pkg is None or pkg_version == version else [
        f"{paths['pkg'].name} PackageInfo version {pkg_version!r}, expected {version}; "
        f"rebuild it (pkgbuild --version {version})"
    ]  # fmt: skip
    rows.append(_row("pkg version", pkg_problems + ([f"not checked: {pkg_why}"] if pkg is None else []),
                     f"PackageInfo version {version}"))  # fmt: skip
    rows.append(_notes(paths["notes"], version))
    rows += _signature(dmg, paths["dmg"], dmg_why)
    return rows
