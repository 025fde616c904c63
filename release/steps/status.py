"""``status``: desired (repo), runtime (VM) and served (HTTPS) side by side, drift marked.

Rules:
- Exactly one remote call (``reconciler status --result``); the served column comes from the feeds.
- A row drifts when runtime or served differs from desired; any drift is exit 1 (docs/rules.md#r12).
- Read-only, so ``--dry-run`` only names what it would ask.
- Update controls (phased rollout, critical, minimum autoupdate) are shown per channel: the
  manifest's against what the feed's item carries; the beta row drifts only while its feed answers.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from release.errors import ReleaseError
from release.outside.probes import fetch_appcast
from release.parts.controls import describe_manifest, served_controls
from release.parts.desired import read_beta, read_gate, read_stable, to_bundle
from release.parts.session import Session
from release.steps.flow import appcast_url, beta_appcast_url, served_version
from schemas import Channel, Status

__all__ = ["status"]


def _served_gate(session: Session) -> str | None:
    code, _, _ = fetch_appcast(session.http, beta_appcast_url(session.target))
    return {200: "open", 404: "closed"}.get(code or 0)


def _served_controls(session: Session, channel: Channel, build: str) -> str | None:
    _, items, _ = fetch_appcast(session.http, appcast_url(session.target, channel))
    found = served_controls(items, build)
    return None if found is None else found[1]


def _word(gate: bool | None) -> str | None:
    return None if gate is None else ("open" if gate else "closed")


def status(session: Session) -> list[dict[str, Any]]:
    target = session.target
    if session.dry_run:
        session.say(
            f"plan: read {target.manifests_dir}/, ask {session.remote.describe()} (one call), probe the feeds"
        )
        session.emit({"dry_run": True})
        return []
    stable, beta, gate = read_stable(target), read_beta(target), read_gate(target)
    runtime: Status | None
    try:
        runtime = session.remote.status()
        remote_error = ""
    except ReleaseError as exc:
        runtime, remote_error = None, str(exc)
    rows = [
        (
            "stable version",
            stable.version if stable else None,
            runtime.stable_version if runtime else None,
            served_version(session, Channel.STABLE)[0],
        ),
        (
            "beta version",
            beta.version if beta else None,
            runtime.beta_version if runtime else None,
            served_version(session, Channel.BETA)[0],
        ),
        (
            "beta gate",
            _word(gate.enabled if gate else None),
            _word(runtime.gate) if runtime else None,
            _served_gate(session),
        ),
        (
            "desired digest",
            to_bundle(target).digest()[:12],
            runtime.desired_digest[:12] if runtime else None,
            None,
        ),
    ]
    out: list[dict[str, Any]] = []
    for name, desired, vm, served in rows:
        if name == "beta gate" and desired is None:
            desired = "closed"  # no beta_gate.json: the VM keeps (and the rulebook wants) the gate closed
        drift = runtime is None or vm != desired or (name != "desired digest" and served != desired)
        out.append({"item": name, "desired": desired, "runtime": vm, "served": served, "drift": drift})
    for channel, manifest in ((Channel.STABLE, stable), (Channel.BETA, beta)):
        if manifest is None:
            continue
        want, served = describe_manifest(manifest), _served_controls(session, channel, manifest.build)
        drift = served != want and (channel is Channel.STABLE or served is not None)
        item = f"{channel.value} update controls"
        out.append({"item": item, "desired": want, "runtime": None, "served": served, "drift": drift})
    if runtime is not None:
        for resource, state in sorted(runtime.resources.items()):
            bad = not state.sync.settled
            out.append(
                {
                    "item": f"VM {resource}",
                    "desired": None,
                    "runtime": state.sync,
                    "served": None,
                    "drift": bad,
                }
            )
    table = Table(title=f"status ({target.name})", title_justify="left")
    for column in ("item", "desired (repo)", "runtime (VM)", "served (HTTPS)", "drift"):
        table.add_column(column)
    for row in out:
        mark = "[red]DRIFT[/]" if row["drift"] else "[green]ok[/]"
        table.add_row(
            *(str(row[k]) if row[k] is not None else "–" for k in ("item", "desired", "runtime", "served")),
            mark,
        )
    drifted = ", ".join(row["item"] for row in out if row["drift"])
    session.finish(
        table,
        {"rows": out, "drift": any(r["drift"] for r in out), "remote_error": remote_error or None},
        failure=f"drift: {drifted}" if drifted else "",
        notes=[f"[red]runtime unknown:[/] {remote_error}"] if remote_error else [],
    )
    return out
