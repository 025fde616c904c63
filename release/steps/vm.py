"""``vm.install``, ``vm.upgrade``, ``vm.check``: the VM side (reconciler and feeds) put on the VM.

Rules:
- The artifact is built from the checkout (``vm_artifact``) and reaches the VM through the
  target's remote, the channel ``sync`` uses: on Azure it is staged in parts of at most 224 KiB of
  script each (``remote.stage``, at most 8, the extension's 256 KiB ``maxScriptSize`` with a margin:
  docs/production.md#run-command-limits), then one Run Command runs the install script
  (``vm_script``) and its RESULT line is the answer. On the sandbox the script runs in a local
  ``/bin/sh`` against the sandbox's VM tree, with the tarball read in place.
- ``--dry-run`` builds the artifact (local, read-only), prints every step and sends nothing.
- An install or upgrade is one journal line; a skip is reported as such (nothing was written).
- ``vm.check`` only reads: the VM's current build against the one this checkout builds, each
  unit file's sha256 against the build's, the reconciler config's against the target's (production),
  and ``systemd-analyze security`` exposure (≤ 3.0) where the VM has systemd-analyze.
"""

from __future__ import annotations

import base64
import sys
import sysconfig
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.table import Table

from release.errors import CHECK_FAILED, ReleaseError
from release.outside.sandbox_layout import sandbox_paths
from release.parts.session import Session
from release.steps.flow import dry_run_done
from release.steps.vm_artifact import Artifact, build_artifact
from release.steps.vm_script import ScriptInputs, VmFacts, VmReport, check_body, install_body, launcher
from schemas import CheckResult, Target
from schemas.target import AzureRemote as AzureRemoteConfig

__all__ = ["MAX_EXPOSURE", "script_inputs", "vm_check", "vm_install", "vm_side_row"]

MAX_EXPOSURE = 3.0  # docs/vm.md#hardening: the units rate 0.7 to 1.7; past 3.0 something regressed
INSTALL_EXTRA_S = 900.0  # pip from the index and the restarts, on top of the target's deadline
STEP_NAMES = "user, dirs, tls, artifact, release, switch, units, config, verify, start, check"


def script_inputs(
    target: Target, artifact: Artifact, mode: str, *, root: str = "", deps: str | None = None
) -> ScriptInputs:
    """What the script needs, from the target: the sandbox's VM tree, an image tree under ``root``,
    or the VM itself (systemd, root, the service user)."""
    remote = target.remote
    common: dict[str, Any] = {
        "mode": mode,
        "build": artifact.build,
        "wheel": artifact.wheel_name,
        "host": target.release_target.server.host,
        "production_url": str(target.endpoints.production.url),
        "staging_url": str(target.endpoints.staging.url),
    }
    if not isinstance(remote, AzureRemoteConfig):
        paths = sandbox_paths(target)
        return ScriptInputs(
            **common,
            root=str(paths.vm_dir),
            systemd=False,
            skip_why="sandbox",
            service_user="",
            python=sys.executable,
            config=str(paths.reconciler_config),
            write_config=False,
            # The sandbox's venv reads its dependencies from the workstation's (no index, no copy).
            deps=deps or f"link:{sysconfig.get_path('purelib')}",
            ca_bundle=str(paths.ca_bundle),
        )
    return ScriptInputs(
        **common,
        root=root,
        systemd=not root,
        skip_why="image tree" if root else "",
        service_user=remote.reconciler_user or "azureuser",
        python="python3",
        config=root.rstrip("/") + remote.reconciler_config,
        write_config=True,
        deps=deps or "index",
        check_status=not root,
    )


def _table(title: str, report: VmReport) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("step")
    table.add_column("outcome")
    for name, outcome in report.steps.items():
        table.add_row(name, outcome)
    return table


def _plan(session: Session, artifact: Artifact, mode: str, script: list[str], parts: int) -> list[str]:
    remote = session.remote.describe()
    sizes = artifact.sizes
    steps = [
        f"build {artifact.build}: wheel {artifact.wheel_name} {sizes['wheel']:,} bytes, "
        f"{artifact.lock_name} {sizes['lock']:,} bytes, artifact {sizes['artifact']:,} bytes (tar.gz)",
    ]
    if parts:
        steps.append(f"stage the artifact in {parts} parts (one Run Command each) on {remote}")
    steps.append(f"run the vm.{mode} script ({len(script)} lines) on {remote}: {STEP_NAMES}")
    return steps


def vm_install(
    session: Session, *, mode: str, source: Path, root: str = "", deps: str | None = None
) -> dict[str, Any]:
    """Install (``mode="install"``) or upgrade the VM side built from ``source``."""
    target = session.target
    artifact = build_artifact(source, target)
    remote = session.remote
    with tempfile.TemporaryDirectory(prefix="nexy-vm-artifact-") as scratch:
        staged: dict[str, Any] = {}
        payload = ""
        if isinstance(target.remote, AzureRemoteConfig):
            payload = base64.b64encode(artifact.tarball).decode()
        else:
            local = Path(scratch) / "artifact.tar.gz"
            local.write_bytes(artifact.tarball)
            staged["artifact"] = str(local)
        parts = _parts(payload)
        report: dict[str, Any] = {
            "build": artifact.build,
            "sizes": artifact.sizes,
            "dry_run": session.dry_run,
        }
        if session.dry_run:
            inputs = script_inputs(target, artifact, mode, root=root, deps=deps)
            script = launcher(install_body(inputs), f"vm.{mode} {artifact.build}")
            steps = _plan(session, artifact, mode, script, parts)
            return dry_run_done(session, steps, report | {"steps": steps})
        with session.change() as change:
            change.details.append(f"build {artifact.build}")
            if payload:
                session.say(f"vm.{mode}: staging {artifact.sizes['artifact']:,} bytes in {parts} parts")
                directory, sha256, count = _stage(session, payload)
                staged.update(staged_dir=directory, staged_sha=sha256, staged_parts=count)
            inputs = script_inputs(target, artifact, mode, root=root, deps=deps)
            inputs = replace(inputs, **staged)
            script = launcher(install_body(inputs), f"vm.{mode} {artifact.build}")
            session.say(f"vm.{mode}: running the script on {remote.describe()}")
            answer = remote.run_script(f"vm.{mode}", script, VmReport, extra_s=INSTALL_EXTRA_S)
            change.details.append(answer.action)
            if not answer.ok:
                change.result = "failed"
    report.update(answer.model_dump())
    notes = (
        [f"vm.{mode}: build {artifact.build} is installed and current: nothing changed (skip)"]
        if answer.action == "skip"
        else []
    )
    failure = (answer.error or "the install failed") if not answer.ok else ""
    session.finish(_table(f"vm.{mode} {artifact.build}", answer), report, failure=failure, notes=notes)
    return report


def _parts(payload: str) -> int:
    if not payload:
        return 0
    from release.outside.remote._staging import split_payload

    return len(split_payload(payload))


def _stage(session: Session, payload: str) -> tuple[str, str, int]:
    # Only Azure's Run Command needs the artifact in parts; the sandbox reads the tarball in place
    # (and never loads the Azure SDK).
    from release.outside.remote.azure import AzureRemote as AzureRemoteClient

    if not isinstance(session.remote, AzureRemoteClient):
        raise ReleaseError(f"{session.remote.describe()} cannot stage an artifact", CHECK_FAILED)
    return session.remote.stage(payload)


def vm_check(session: Session, *, source: Path, root: str = "") -> dict[str, Any]:
    """Does the VM run the VM side this checkout builds, with the expected units?"""
    target = session.target
    artifact = build_artifact(source, target)
    inputs = script_inputs(target, artifact, "check", root=root)
    script = launcher(check_body(inputs), "vm.check")
    if session.dry_run:
        steps = [
            f"build {artifact.build} locally (its id and unit digests)",
            f"read the current build, unit digests and exposure on {session.remote.describe()} (one call)",
        ]
        return dry_run_done(session, steps, {"build": artifact.build, "dry_run": True, "steps": steps})
    facts = session.remote.run_script("vm.check", script, VmFacts)
    checks = [
        CheckResult(
            name="build",
            ok=facts.build == artifact.build,
            detail=f"VM {facts.build or 'none'}, workstation {artifact.build}",
        )
    ]
    for name, expected in sorted(artifact.unit_digests.items()):
        found = facts.units.get(name, "missing")
        checks.append(
            CheckResult(
                name=f"unit {name}",
                ok=found == expected,
                detail="as built"
                if found == expected
                else f"differs (sha256 {found[:12]}, built {expected[:12]})",
            )
        )
    if inputs.write_config:
        checks.append(
            CheckResult(
                name="reconciler config",
                ok=facts.config == artifact.config_digest,
                detail="the target's"
                if facts.config == artifact.config_digest
                else f"differs from the target's ({facts.config[:12]})",
            )
        )
    for name, score in sorted(facts.exposure.items()):
        rated = score.replace(".", "", 1).isdigit()
        checks.append(
            CheckResult(
                name=f"exposure {name}",
                ok=rated and float(score) <= MAX_EXPOSURE,
                detail=f"{score} (systemd-analyze security; at most {MAX_EXPOSURE})",
            )
        )
    document = {"build": artifact.build, "vm": facts.model_dump(), "checks": [c.model_dump() for c in checks]}
    session.finish_checks("vm.check", checks, document, "the VM side is not the expected one")
    return document


def vm_side_row(target: Target, running: str | None, source: Path) -> CheckResult:
    """Preflight's ``VM side`` row: the build the VM's reconciler reports (``Status.build``, from
    the one ``status`` call preflight makes) against the build ``source`` makes (a local wheel
    build, seconds; no second remote call). A version without a build id is a checkout (the
    sandbox before ``vm.install``: the same code, so it passes) or a venv installed by hand (it
    passes with a warning: an air-gapped VM cannot take vm.install)."""
    name = "VM side"
    if running is None:
        return CheckResult(name=name, ok=False, detail="the reconciler reports no version: ./inv vm.upgrade")
    if "+" not in running:
        if not isinstance(target.remote, AzureRemoteConfig):
            return CheckResult(
                name=name, ok=True, detail=f"runs this checkout ({running}; no vm.install here)"
            )
        # An air-gapped VM installed by hand (docs/vm.md's appendix) is allowed, and said so.
        detail = f"warning: runs {running} from a venv made by hand; ./inv vm.upgrade tracks the build"
        return CheckResult(name=name, ok=True, detail=detail)
    try:
        built = build_artifact(source, target).build
    except ReleaseError as exc:
        return CheckResult(name=name, ok=False, detail=f"this checkout's build failed: {exc}")
    if running == built:
        return CheckResult(name=name, ok=True, detail=f"build {built}, this checkout's")
    return CheckResult(
        name=name, ok=False, detail=f"the VM runs {running}, this checkout builds {built}: ./inv vm.upgrade"
    )
