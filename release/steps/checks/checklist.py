"""preflight's rows (``release.steps.checks``): the pre-release checklist (docs/rules.md#r11).

Rules:
- ``credentials``: the store's credentials usable; ``inbox artifacts``: the channel's inbox holds
  the dmg, pkg and notes; ``server health``: production ``/health`` answers (the code deploy is
  done).
- The VM rows (``./inv preflight`` only: publish makes exactly one remote call, its sync): the
  VM's required env keys present (names only, from ``reconciler status``: the one remote call),
  ``manifest paths``: the legacy runtime manifest does not conflict with the canonical one, and
  ``VM side``: the build its reconciler runs is the one this checkout makes.
- ``fixed releases``: the channel's fixed releases exist and are mutable (not asked when the
  credentials failed: every lookup would fail the same way); ``secret scan``: the release notes
  and manifests are clean; ``signing key``: loads and matches ``SUPublicEDKey`` in the app's
  Info.plist, or the target does not sign and the app has no key.
- The archive rows (``release.parts.inspection``) and ``fresh bytes``: no inbox archive is the
  previous stable or beta release's (with ``yes``, publish's ``--yes``, a warning that passes).
"""

from __future__ import annotations

from pathlib import Path

from release.errors import ReleaseError
from release.outside.probes import get_health
from release.outside.store._immutable import immutable_message
from release.parts.artifacts import inbox_paths, missing_inbox, stale_inbox
from release.parts.desired import manifests_dir
from release.parts.inspection import archive_rows
from release.parts.secrets import scan_paths
from release.parts.versioning import current_version
from release.steps.checks.row import check
from release.steps.checks.subject import Subject
from release.steps.vm import vm_side_row
from schemas import CheckResult, ResourceName, ServerHealth, SyncState

__all__ = [
    "VM_ROWS",
    "archives",
    "credentials",
    "fixed_releases",
    "inbox",
    "scan_targets",
    "secrets",
    "server_health",
    "signing_key",
    "vm",
]

VM_ROWS = ("VM env keys", "manifest paths", "VM side")


def scan_targets(subject: Subject) -> list[Path]:
    """The files a publish would send or record: the release notes and every desired-state file."""
    target = subject.target
    files = [inbox_paths(target, subject.channel)["notes"]]
    folder = manifests_dir(target)
    if folder.is_dir():
        files += sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
    return files


def credentials(subject: Subject) -> CheckResult:
    ok, detail = subject.credentials
    return check("credentials", ok, detail)


def inbox(subject: Subject) -> CheckResult:
    target = subject.target
    missing = missing_inbox(target, subject.channel)
    return check(
        "inbox artifacts",
        not missing,
        "; ".join(missing) if missing else f"{target.dmg_name}, {target.pkg_name}, {target.notes_name}",
    )


def server_health(subject: Subject) -> CheckResult:
    url = str(subject.target.endpoints.production.url).rstrip("/") + "/health"
    document, detail = get_health(subject.session.http, url, ServerHealth)
    return check("server health", document is not None, f"{url}: {document.status}" if document else detail)


def vm(subject: Subject) -> list[CheckResult]:
    session = subject.session
    try:
        status = session.remote.status()
    except ReleaseError as exc:
        unreachable = "VM not reachable"
        return [
            check("VM env keys", False, str(exc)),
            check("manifest paths", False, unreachable),
            CheckResult(name="VM side", ok=False, skipped=True, detail=unreachable),
        ]
    missing = [key for key in session.target.required_env_keys if not status.env_keys.get(key, False)]
    env = check(
        "VM env keys",
        not missing,
        f"missing {', '.join(missing)} in config.env"
        if missing
        else ", ".join(session.target.required_env_keys),
    )
    legacy = status.resources.get(ResourceName.LEGACY)
    conflict = legacy is not None and not legacy.sync.settled
    detail = (
        "legacy copy absent"
        if legacy is None or legacy.sync is SyncState.ABSENT
        else f"legacy copy {legacy.sync}"
    )
    if conflict and legacy is not None and legacy.detail:
        detail += f": {legacy.detail}"
    return [
        env,
        check("manifest paths", not conflict, detail),
        vm_side_row(session.target, status.build, subject.source),
    ]


def fixed_releases(subject: Subject) -> CheckResult:
    if not subject.credentials[0]:
        # Every release lookup would fail with the same credential error: say it once.
        return check("fixed releases", False, "not checked: the store's credentials failed")
    session = subject.session
    tags = session.target.channels.tags(subject.channel)
    problems, seen, locked = [], [], []
    for tag in (tags.dmg_tag, tags.pkg_tag):
        try:
            release = session.store.release(tag)
        except ReleaseError as exc:
            problems.append(str(exc))
            continue
        if release.immutable:
            locked.append(tag)
        else:
            seen.append(tag)
    if locked:
        # One sentence for both tags: the remedy must survive the row's length cap.
        problems.append(immutable_message(session.target.repositories.assets, locked))
    detail = "; ".join(problems) if problems else f"{', '.join(seen)} exist and are mutable"
    return check("fixed releases", not problems, detail)


def secrets(subject: Subject) -> CheckResult:
    findings = scan_paths(scan_targets(subject))
    if not findings:
        return check("secret scan", True, "no secrets in the release notes or manifests")
    root = subject.target.path(".")
    shown = []
    for finding in findings:
        try:
            name = str(finding.path.relative_to(root))
        except ValueError:
            name = str(finding.path)
        shown.append(f"{name}:{finding.line} ({finding.kind})")
    return check("secret scan", False, "found " + ", ".join(shown))


def signing_key(subject: Subject) -> CheckResult:
    return check("signing key", subject.signing.ok, subject.signing.detail)


def archives(subject: Subject) -> list[CheckResult]:
    target, channel = subject.target, subject.channel
    signer = subject.signing.signer
    try:
        version = current_version(target.path(target.workspace))
    except ReleaseError as exc:
        return [check("archives", False, f"not checked: {exc}")]
    rows = archive_rows(target, channel, version, signer.public_key_b64 if signer is not None else None)
    stale = "; ".join(stale_inbox(target, channel, version))
    if not stale:
        return [*rows, check("fresh bytes", True, "no inbox archive is the previous release's")]
    if subject.yes:
        return [*rows, check("fresh bytes", True, f"warning: {stale} (--yes: meant)")]
    fix = f"a forgotten rebuild? rebuild for {version}, or publish --yes if it is meant"
    return [*rows, check("fresh bytes", False, f"{stale}: {fix}")]
