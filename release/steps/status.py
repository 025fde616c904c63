"""``status``: desired (repo), runtime (VM) and served (HTTPS, store) side by side, drift marked.

Rules:
- Exactly one remote call (``reconciler status --result``); the served column comes from the feeds
  and the store. The same answer carries the feeds' appcast checks: one adoption line under the
  table (``release.steps.adoption.status_line``).
- A row drifts when runtime or served differs from desired; any drift is exit 1 (docs/rules.md#r12).
- A side that cannot be asked is not drift and not "–": its cells say ``no answer``, the row's drift
  cell says ``?``, a note under the table names the side (the VM's error, or each feed URL that did
  not answer) and what to do (``./inv sandbox.up`` on the sandbox), and the exit is 1, because
  "no drift" cannot be shown. Each feed is asked once whether it answers (``probes.Reach``).
- The stored assets are rows too: the dmg and the pkg of each channel, the manifest's sha256
  against what the store holds (``release.steps.stored``: the store's own size and digest, no
  download where the store gives one); a mismatch names the fix.
- Read-only, so ``--dry-run`` only names what it would ask.
- Update controls (phased rollout, critical, minimum autoupdate) are shown per channel: the
  manifest's against what the feed's item carries; the beta row drifts only while its feed answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.table import Table

from release.errors import ReleaseError
from release.outside.probes import Reach, down_fix, fetch_appcast
from release.parts.controls import describe_manifest, served_controls
from release.parts.desired import read_beta, read_gate, read_stable, to_bundle
from release.parts.session import Session
from release.steps.adoption import status_line
from release.steps.flow import appcast_url, base_url, beta_appcast_url, served_version
from release.steps.stored import fix, short, stored
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


@dataclass
class _Row:
    item: str
    desired: Any
    runtime: Any = None
    served: Any = None
    drift: bool = False
    # which side could not be asked: "runtime" (the VM) or "served" (a feed or the store)
    unknown: str | None = None

    def document(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "desired": self.desired,
            "runtime": self.runtime,
            "served": self.served,
            "drift": self.drift,
            "unknown": self.unknown,
        }


def _version_rows(session: Session, runtime: Status | None, reach: Reach) -> list[_Row]:
    target = session.target
    stable, beta, gate = read_stable(target), read_beta(target), read_gate(target)
    production, staging = base_url(target, Channel.STABLE), base_url(target, Channel.BETA)
    rows = [
        _Row(
            "stable version",
            stable.version if stable else None,
            runtime.stable_version if runtime else None,
            None if reach.silent([production]) else served_version(session, Channel.STABLE)[0],
        ),
        _Row(
            "beta version",
            beta.version if beta else None,
            runtime.beta_version if runtime else None,
            None if reach.silent([staging]) else served_version(session, Channel.BETA)[0],
        ),
        _Row(
            "beta gate",
            # no beta_gate.json: the VM keeps (and the rulebook wants) the gate closed
            _word(gate.enabled if gate else None) or "closed",
            _word(runtime.gate) if runtime else None,
            None if reach.silent([staging]) else _served_gate(session),
        ),
    ]
    for row, url in zip(rows, (production, staging, staging), strict=True):
        if runtime is None:
            row.unknown = "runtime"
        elif reach.silent([url]):
            row.unknown = "served"
        row.drift = row.unknown is None and not (row.runtime == row.desired == row.served)
    digest = _Row(
        "desired digest",
        to_bundle(target).digest()[:12],
        runtime.desired_digest[:12] if runtime else None,
        unknown=None if runtime else "runtime",
    )
    digest.drift = runtime is not None and digest.runtime != digest.desired
    return [*rows, digest]


def _controls_rows(session: Session, reach: Reach) -> list[_Row]:
    rows = []
    for channel, manifest in (
        (Channel.STABLE, read_stable(session.target)),
        (Channel.BETA, read_beta(session.target)),
    ):
        if manifest is None:
            continue
        row = _Row(f"{channel.value} update controls", describe_manifest(manifest))
        if reach.silent([base_url(session.target, channel)]):
            row.unknown = "served"
        else:
            row.served = _served_controls(session, channel, manifest.build)
            row.drift = row.served != row.desired and (channel is Channel.STABLE or row.served is not None)
        rows.append(row)
    return rows


def _asset_rows(session: Session) -> tuple[list[_Row], list[str], list[str]]:
    """One row per stored dmg and pkg; the fix for each channel whose store bytes differ; why an
    asset could not be asked about."""
    rows, fixes, unknown = [], [], []
    for channel, manifest in (
        (Channel.STABLE, read_stable(session.target)),
        (Channel.BETA, read_beta(session.target)),
    ):
        if manifest is None:
            continue
        held = stored(session, channel, manifest)
        for asset in held:
            row = _Row(f"{asset.tag}/{asset.want.name}", short(asset.want.sha256, 12))
            if asset.size is None:
                row.unknown, row.served = "served", None
                unknown.append(f"{asset.tag}/{asset.want.name}: {asset.source}")
            else:
                shown = short(asset.sha256, 12)
                row.served = shown if asset.size == asset.want.size else f"{asset.size} bytes"
                row.drift = not asset.ok
            rows.append(row)
        if any(asset.size is not None and not asset.ok for asset in held):
            bad = ", ".join(a.describe() for a in held if a.size is not None and not a.ok)
            fixes.append(f"{bad}; fix: {fix(channel, manifest.version)}")
    return rows, fixes, unknown


def _cell(row: _Row, key: str) -> str:
    value = getattr(row, key)
    if value is None and row.unknown == key:
        return "[yellow]no answer[/]"
    return str(value) if value is not None else "–"


def _table(title: str, rows: list[_Row]) -> Table:
    """The table at any width from 80 up: one-word columns never wrap, the others wrap at spaces,
    and a word longer than its column ends in "…" rather than going on mid-word on the next line."""
    table = Table(title=title, title_justify="left")
    table.add_column("item", overflow="ellipsis")
    table.add_column("desired (repo)", overflow="ellipsis")
    table.add_column("runtime (VM)", no_wrap=True)
    table.add_column("served (HTTPS)", overflow="ellipsis")
    table.add_column("drift", no_wrap=True)
    for row in rows:
        mark = "[yellow]?[/]" if row.unknown else ("[red]DRIFT[/]" if row.drift else "[green]ok[/]")
        table.add_row(row.item, _cell(row, "desired"), _cell(row, "runtime"), _cell(row, "served"), mark)
    return table


def status(session: Session) -> list[dict[str, Any]]:
    target = session.target
    if session.dry_run:
        session.say(
            f"plan: read {target.manifests_dir}/, ask {session.remote.describe()} (one call), probe the "
            "feeds and read the store's asset metadata"
        )
        session.emit({"dry_run": True})
        return []
    runtime: Status | None
    try:
        runtime = session.remote.status()
        remote_error = ""
    except ReleaseError as exc:
        runtime, remote_error = None, str(exc)
    reach = Reach(session.http)
    rows = _version_rows(session, runtime, reach) + _controls_rows(session, reach)
    assets, fixes, store_unknown = _asset_rows(session)
    rows += assets
    if runtime is not None:
        for resource, state in sorted(runtime.resources.items()):
            rows.append(_Row(f"VM {resource}", None, state.sync, drift=not state.sync.settled))
    silent = reach.silent([base_url(target, Channel.STABLE), base_url(target, Channel.BETA)])
    notes = [f"[red]drift:[/] {line}" for line in fixes]
    unknown = list(store_unknown)
    notes += [f"[yellow]store unknown:[/] {line}" for line in store_unknown]
    if remote_error:
        notes.append(f"[yellow]runtime (VM) unknown:[/] {remote_error}")
        unknown.append(f"the VM ({session.remote.describe()}) did not answer")
    if silent:
        notes.append(f"[yellow]served unknown:[/] {', '.join(silent)} did not answer: {down_fix(target)}")
        unknown.append(f"{', '.join(silent)} did not answer: {down_fix(target)}")
    adoption = status_line(runtime)
    if adoption is not None:
        notes.append(adoption)
    drifted = ", ".join(row.item for row in rows if row.drift)
    failure = "; ".join(
        ([f"drift: {drifted}"] if drifted else []) + [f"status unknown: {u}" for u in unknown]
    )
    session.finish(
        _table(f"status ({target.name})", rows),
        {
            "rows": [row.document() for row in rows],
            "drift": any(row.drift for row in rows),
            "remote_error": remote_error or None,
            "unreachable": silent,
            "adoption": adoption,
        },
        failure=failure,
        notes=notes,
    )
    return [row.document() for row in rows]
