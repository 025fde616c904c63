"""``diff``: the desired state (``manifests/``) against the VM, resource by resource, like
``argocd app diff``.

Rules:
- Exactly one remote call, the reconciler's own ``diff --result`` (its ``PlanDocument``, computed
  on the VM without applying anything): a subprocess on the sandbox, one Run Command in production.
- Two comparisons, both shown: the bundle in ``manifests/`` against the one the VM holds (by the
  desired digest both sides compute: a difference means ``sync`` has not sent it), and, per
  resource, what the VM's desired state asks for against what its runtime files hold (the
  reconciler names the fields a hand edit changed) and the files a pass would write.
- Exit 1 when anything differs (the bundle, or a resource drifted or in error); exit 0 in sync.
- Read-only, so ``--dry-run`` only names what it would ask. A sandbox whose reconciler does not
  answer is one line saying how to start it.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from release.errors import ReleaseError
from release.parts.desired import to_bundle
from release.parts.session import Session
from schemas import Bundle, PlanDocument, SyncState

__all__ = ["diff"]

_STATE_STYLE = {SyncState.DRIFTED: "red", SyncState.ERROR: "red", SyncState.ABSENT: "dim"}


def _bundle_words(bundle: Bundle) -> str:
    stable = bundle.stable.version if bundle.stable else "none"
    beta = bundle.beta.version if bundle.beta else "none"
    gate = "none" if bundle.gate is None else ("open" if bundle.gate.enabled else "closed")
    return f"stable {stable}, beta {beta}, gate {gate}"


def _table(title: str, bundle: Bundle, plan: PlanDocument) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("resource", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("desired and what the VM has", overflow="fold", ratio=1)
    same = bundle.digest() == plan.desired_digest
    table.add_row(
        "bundle",
        "[green]same[/]" if same else "[red]differs[/]",
        f"manifests/ {bundle.digest()[:12]} ({_bundle_words(bundle)})\nthe VM's desired/ {plan.desired_digest[:12]}",
    )
    for name, entry in plan.resources.items():
        style = _STATE_STYLE.get(entry.state, "green")
        if entry.state.settled:
            # Nothing to compare line by line: in sync shows the value, absent says why.
            detail = entry.found or entry.expected or "–"
        else:
            lines = [f"desired: {entry.expected or '–'}", f"VM has: {entry.found or '–'}"]
            lines += [f"would write {path}" for path in entry.files]
            detail = "\n".join(lines)
        table.add_row(name, f"[{style}]{entry.state}[/]", detail)
    return table


def diff(session: Session) -> dict[str, Any]:
    target = session.target
    bundle = to_bundle(target)
    if session.dry_run:
        session.say(
            f"plan: read {target.manifests_dir}/, ask {session.remote.describe()} (one call: reconciler diff)"
        )
        session.emit({"dry_run": True})
        return {"dry_run": True}
    try:
        plan = session.remote.diff()
    except ReleaseError as exc:
        if target.remote.kind != "local":
            raise  # Run Command's errors already name the credential, the VM or the deadline
        raise ReleaseError(f"{exc} (is the sandbox up? ./inv sandbox.up starts it)", exc.code) from None
    same = bundle.digest() == plan.desired_digest
    unsettled = plan.unsettled()
    different = [*([] if same else ["bundle (run ./inv sync to send manifests/)"]), *unsettled]
    notes = []
    if not same:
        notes.append(
            "the VM holds another desired bundle: its resources below follow that one until "
            "./inv sync sends manifests/"
        )
    if unsettled and plan.mode == "observe":
        notes.append("the reconciler is in observe mode: it reports drift and writes nothing")
    document = {
        "target": target.name,
        "vm": session.remote.describe(),
        "different": bool(different),
        "bundle": {
            "desired_digest": bundle.digest(),
            "vm_digest": plan.desired_digest,
            "same": same,
            "desired": _bundle_words(bundle),
        },
        "plan": plan.model_dump(mode="json"),
    }
    session.finish(
        _table(f"diff ({target.name}): manifests/ against the VM", bundle, plan),
        document,
        failure=f"different: {', '.join(different)}" if different else "",
        notes=notes if different else ["in sync: nothing to do"],
    )
    return document
