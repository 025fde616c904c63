"""``preflight``: the pre-release checklist (docs/rules.md#r11) as a table.

Rules:
- Every item runs even when an earlier one failed, so one run names every problem (exit 1).
- Items: store credentials usable; the channel's inbox artifacts present; production ``/health``
  answers (the code deploy is done); the VM's required env keys present (names only, from
  ``reconciler status``: the one remote call) and the build its reconciler runs is the one this
  checkout makes (``VM side``; ``vm.check`` compares the units too); the channel's fixed releases exist and are mutable;
  the legacy runtime manifest does not conflict with the canonical one; the secret scan is clean;
  the signing key loads and matches ``SUPublicEDKey`` in the app's Info.plist (one line naming both
  public keys when not), or the target does not sign and the app has no key;
  ``grpc``: the production gRPC endpoint answers ``grpc.health.v1.Health/Check`` (release.outside.grpcsmoke);
  then the archive rows (``release.parts.inspection``): inside the dmg and pkg, the app's versions,
  ``SUPublicEDKey``, ``SUFeedURL``, ``LSMinimumSystemVersion``, the pkg's version, the notes'
  heading and the code signature (codesign, spctl and stapler on macOS); ``fresh bytes``: no
  inbox archive is the previous stable or beta release's (with ``yes``, publish's ``--yes``, a
  warning that passes).
- ``publish`` runs the same list without the VM items, because a publish makes exactly one remote
  call (its sync); ``./inv preflight`` is where the VM is asked.
- Read-only: nothing is written anywhere, so ``--dry-run`` is the same run, with one exception:
  the ``grpc`` row is not called; a ``plan:`` line names each gRPC endpoint it would call and the
  row says "not called (dry run)" (it fails only when the target names no gRPC endpoint).
"""

from __future__ import annotations

from pathlib import Path

from release.errors import ReleaseError
from release.outside.grpcsmoke import check_row as grpc_row
from release.outside.grpcsmoke import endpoint_of
from release.outside.grpcsmoke import plan_line as grpc_plan
from release.outside.probes import get_health
from release.outside.store._immutable import immutable_message
from release.parts.artifacts import inbox_paths, missing_inbox, stale_inbox
from release.parts.desired import manifests_dir
from release.parts.inspection import archive_rows
from release.parts.secrets import scan_paths
from release.parts.session import Session
from release.parts.signing import KeyCheck, check_signing
from release.parts.versioning import current_version
from release.steps.vm import vm_side_row
from schemas import Channel, CheckResult, ResourceName, ServerHealth, SyncState

__all__ = ["run_preflight", "scan_targets"]


def _check(name: str, ok: bool, detail: str) -> CheckResult:
    return CheckResult(name=name, ok=ok, detail=detail[:300])


def scan_targets(session: Session, channel: Channel) -> list[Path]:
    """The files a publish would send or record: the release notes and every desired-state file."""
    target = session.target
    files = [inbox_paths(target, channel)["notes"]]
    folder = manifests_dir(target)
    if folder.is_dir():
        files += sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))
    return files


def _credentials(session: Session) -> CheckResult:
    try:
        return _check("credentials", True, session.store.check_access())
    except ReleaseError as exc:
        return _check("credentials", False, str(exc))


def _fixed_releases(session: Session, channel: Channel) -> CheckResult:
    tags = session.target.channels.tags(channel)
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
    return _check("fixed releases", not problems, detail)


def _server_health(session: Session) -> CheckResult:
    url = str(session.target.endpoints.production.url).rstrip("/") + "/health"
    document, detail = get_health(session.http, url, ServerHealth)
    return _check("server health", document is not None, f"{url}: {document.status}" if document else detail)


def _vm_items(session: Session, source: Path) -> list[CheckResult]:
    try:
        status = session.remote.status()
    except ReleaseError as exc:
        unreachable = "VM not reachable"
        return [
            _check("VM env keys", False, str(exc)),
            _check("manifest paths", False, unreachable),
            CheckResult(name="VM side", ok=False, skipped=True, detail=unreachable),
        ]
    missing = [key for key in session.target.required_env_keys if not status.env_keys.get(key, False)]
    env = _check(
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
        _check("manifest paths", not conflict, detail),
        vm_side_row(session.target, status.build, source),
    ]


def _secrets(session: Session, channel: Channel) -> CheckResult:
    findings = scan_paths(scan_targets(session, channel))
    if not findings:
        return _check("secret scan", True, "no secrets in the release notes or manifests")
    root = session.target.path(".")
    shown = []
    for finding in findings:
        try:
            name = str(finding.path.relative_to(root))
        except ValueError:
            name = str(finding.path)
        shown.append(f"{name}:{finding.line} ({finding.kind})")
    return _check("secret scan", False, "found " + ", ".join(shown))


def _signing(session: Session, signing: KeyCheck | None) -> tuple[CheckResult, str | None]:
    check = signing if signing is not None else check_signing(session.target)
    public = check.signer.public_key_b64 if check.signer is not None else None
    return _check("signing key", check.ok, check.detail), public


def _archives(session: Session, channel: Channel, public: str | None, yes: bool) -> list[CheckResult]:
    target = session.target
    try:
        version = current_version(target.path(target.workspace))
    except ReleaseError as exc:
        return [_check("archives", False, f"not checked: {exc}")]
    rows = archive_rows(target, channel, version, public)
    stale = "; ".join(stale_inbox(target, channel, version))
    if not stale:
        return [*rows, _check("fresh bytes", True, "no inbox archive is the previous release's")]
    if yes:
        return [*rows, _check("fresh bytes", True, f"warning: {stale} (--yes: meant)")]
    fix = f"a forgotten rebuild? rebuild for {version}, or publish --yes if it is meant"
    return [*rows, _check("fresh bytes", False, f"{stale}: {fix}")]


def run_preflight(
    session: Session,
    channel: Channel,
    *,
    vm: bool = True,
    signing: KeyCheck | None = None,
    yes: bool = False,
    source: Path | None = None,
) -> list[CheckResult]:
    """The rows; ``source`` is the checkout the VM side is built from (the ``VM side`` row), asked
    only with the VM items."""
    target = session.target
    missing = missing_inbox(target, channel)
    inbox = _check(
        "inbox artifacts",
        not missing,
        "; ".join(missing) if missing else f"{target.dmg_name}, {target.pkg_name}, {target.notes_name}",
    )
    credentials = _credentials(session)
    checks = [credentials, inbox, _server_health(session)]
    if session.dry_run:
        # Health/Check reaches the app's server; a dry run names the call instead of making it.
        plan = grpc_plan(target, "production")
        session.say(f"plan: {plan}")
        named = endpoint_of(target, "production") is not None
        checks.append(_check("grpc", named, f"not called (dry run): {plan}"))
    else:
        checks.append(grpc_row(target, "production"))
    if vm:
        checks += _vm_items(session, source or Path.cwd())
    if credentials.ok:
        checks.append(_fixed_releases(session, channel))
    else:
        # Every release lookup would fail with the same credential error: say it once.
        checks.append(_check("fixed releases", False, "not checked: the store's credentials failed"))
    checks.append(_secrets(session, channel))
    signing_row, public = _signing(session, signing)
    checks.append(signing_row)
    checks += _archives(session, channel, public, yes)
    return checks
