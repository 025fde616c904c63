"""``doctor``: is this workstation ready to release to a target? One row per thing a release needs,
each with its fix.

Rules:
- Read-only and local first: tools, credentials, the target file, the sandbox's ports, the
  signing key, then whether each endpoint answers. Nothing is written; no credential is used.
- Credentials are reported as "set" or "missing" with where they are read from (the variable, the
  file); a value is never printed, nor its length. The signing key is loaded as ``publish`` loads it
  (``release.parts.signing.check_signing``: the login keychain on macOS, a key file, a variable)
  and only its public half is named.
- A row is required (its failure is exit 1) or optional (absent is ``–``, never a failure).
- A target file that does not load is the last row: everything after it follows from that one cause.
- The sandbox's ports are read from the target; a port is fine when it is free or held by the
  sandbox process this tool started (``processes``: ``release.sandbox.status``'s table, passed in
  by the task, since steps and the sandbox never import each other).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from rich.table import Table

from release.console import emit_json, out_console
from release.errors import CHECK_FAILED, ReleaseError
from release.outside.probes import get_health, port_answers, port_free, ssl_context
from release.parts.signing import check_signing
from release.parts.target import load_target, target_path
from schemas import ServerHealth, Target
from schemas.target import AzureRemote, GithubStore

__all__ = ["Row", "doctor"]

Processes = Callable[[Target], Mapping[str, Mapping[str, Any]]]
MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python, and what ./inv itself insists on

# azure-identity's EnvironmentCredential reads one of these sets (azure/identity/_constants.py,
# EnvironmentVariables.CLIENT_SECRET_VARS / CERT_VARS / USERNAME_PASSWORD_VARS).
_AZURE_ENV_SETS = (
    ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"),
    ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH"),
    ("AZURE_CLIENT_ID", "AZURE_USERNAME", "AZURE_PASSWORD"),
)


@dataclass(frozen=True)
class Row:
    name: str
    ok: bool | None
    """True fine, False failed, None an optional thing that is absent."""
    found: str
    fix: str = ""
    required: bool = True


def _tool(name: str, tools: tuple[str, ...], why: str) -> Row:
    found = [f"{tool} ({path})" for tool in tools if (path := shutil.which(tool))]
    if found:
        return Row(name, True, found[0], required=False)
    return Row(name, None, f"{' / '.join(tools)} not on PATH", why, required=False)


def _tools() -> list[Row]:
    version = ".".join(str(part) for part in sys.version_info[:3])
    python = Row(
        "python",
        sys.version_info[:2] >= MIN_PYTHON,
        f"{version} ({sys.executable})",
        ""
        if sys.version_info[:2] >= MIN_PYTHON
        else "install CPython 3.11, 3.12 or 3.13 and run ./inv again",
    )
    dmg_tools = ("hdiutil",) if platform.system() == "Darwin" else ("7zz", "7z")
    return [
        python,
        _tool("git", ("git",), "install git: the journal names who ran a task by git's user.name"),
        _tool(
            "dmg tool", dmg_tools, "to look inside a Nexy.dmg by hand (macOS: hdiutil; Linux: 7-Zip's 7zz)"
        ),
        _tool(
            "systemd-analyze",
            ("systemd-analyze",),
            "on Linux, install systemd to run the unit-file checks (their tests are skipped without it)",
        ),
    ]


def _store_credential(target: Target, environ: Mapping[str, str]) -> Row:
    store = target.store
    if not isinstance(store, GithubStore):
        return Row("store credential", True, "not needed: the sandbox's directory store")
    from release.outside.store.github import find_token

    try:
        _token, where = find_token(target, environ)
    except ReleaseError as exc:
        where = f"${store.token_env}" + (f" or {store.token_file}" if store.token_file else "")
        return Row("store credential", False, f"GitHub token missing ({where})", str(exc))
    return Row("store credential", True, f"GitHub token set (read from {where})")


def _set(names: tuple[str, ...], environ: Mapping[str, str]) -> list[str]:
    return [name for name in names if environ.get(name, "").strip()]


def _azure_credential(remote: AzureRemote, environ: Mapping[str, str]) -> Row:
    kind = remote.credential
    name = f"Azure credential ({kind})"
    complete = [names for names in _AZURE_ENV_SETS if len(_set(names, environ)) == len(names)]
    identity = _set(("IDENTITY_ENDPOINT", "MSI_ENDPOINT"), environ)
    az = shutil.which("az")
    sources = []
    if complete:
        sources.append("environment: " + ", ".join(complete[0]) + " set")
    if identity:
        sources.append(f"managed identity: ${identity[0]} set")
    if az:
        sources.append(f"Azure CLI ({az}; its login is not checked here)")
    wanted = {
        "environment": (bool(complete), "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"),
        "cli": (az is not None, "install the Azure CLI and run az login"),
        "managed_identity": (
            True,  # on an Azure host the identity comes from IMDS, which no variable announces
            "",
        ),
        "default": (
            bool(sources),
            "run az login, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
        ),
    }
    ok, fix = wanted[kind]
    if kind == "managed_identity" and not identity:
        return Row(name, True, "no $IDENTITY_ENDPOINT: the host's IMDS answers on an Azure machine only")
    return Row(name, ok, "; ".join(sources) if sources else "none found", "" if ok else fix)


def _remote_credentials(target: Target, environ: Mapping[str, str]) -> list[Row]:
    remote = target.remote
    if not isinstance(remote, AzureRemote):
        return [Row("VM credential", True, "not needed: the sandbox's reconciler runs here")]
    variable = remote.subscription_id_env
    subscription = (
        Row("Azure subscription", True, f"set (read from ${variable})")
        if environ.get(variable, "").strip()
        else Row("Azure subscription", False, f"${variable} missing", f"export {variable}=<subscription id>")
    )
    return [subscription, _azure_credential(remote, environ)]


def _host_port(address: str) -> tuple[str, int] | None:
    parts = urlsplit(address if "//" in address else f"//{address}")
    if parts.hostname is None:
        return None
    return parts.hostname, parts.port or (443 if parts.scheme in ("https", "") else 80)


def _sandbox_ports(target: Target, processes: Processes) -> list[Row]:
    rows = []
    for name, process in processes(target).items():
        # Its endpoint (the reconciler has none) and its metrics endpoint, when the target gives one.
        found = (_host_port(str(process.get(key) or "")) for key in ("url", "metrics_url"))
        for host, port in (where for where in found if where is not None):
            rows.append(_port_row(name, process, host, port))
    return rows


def _port_row(name: str, process: Mapping[str, Any], host: str, port: int) -> Row:
    if process.get("alive"):
        return Row(f"port {port}", True, f"{name}: ours (pid {process.get('pid')})")
    if port_free(host, port):
        return Row(f"port {port}", True, f"{name}: free")
    return Row(
        f"port {port}",
        False,
        f"{name}: {host}:{port} is held by a program this tool did not start",
        "stop that program, or give the sandbox other ports in the target file",
    )


def _endpoints(target: Target, sandbox: bool) -> list[Row]:
    if target.ca_bundle is not None and not target.path(target.ca_bundle).is_file():
        fix = "run ./inv sandbox.up" if sandbox else "restore the file the target names"
        return [Row("feeds", False, f"ca_bundle {target.path(target.ca_bundle)} does not exist", fix)]
    rows = []
    down = "./inv sandbox.up" if sandbox else "check the feed service on the VM (docs/vm.md)"
    with httpx.Client(verify=ssl_context(target), timeout=10.0) as http:
        for name, endpoint in (
            ("production", target.endpoints.production),
            ("staging", target.endpoints.staging),
        ):
            url = str(endpoint.url).rstrip("/") + "/health"
            document, detail = get_health(http, url, ServerHealth)
            if document is not None:
                rows.append(Row(f"{name} feed", True, f"{url}: {document.status}"))
            else:
                rows.append(Row(f"{name} feed", False, detail, down))
    others = []
    if isinstance(target.store, GithubStore):
        others.append(("GitHub API", str(target.store.api_url)))
    if isinstance(target.remote, AzureRemote):
        others.append(("Azure ARM", str(target.remote.arm_url)))
    for name, url in others:
        host_port = _host_port(url)
        assert host_port is not None  # pydantic's AnyHttpUrl always has a host
        ok, detail = port_answers(*host_port)
        rows.append(
            Row(name, ok, detail, "" if ok else "check the network, a proxy or the URL in the target")
        )
    return rows


def _table(title: str, rows: list[Row]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    table.add_column("found", overflow="fold", ratio=1)
    table.add_column("fix", overflow="fold", max_width=28)
    for row in rows:
        mark = "[green]✓[/]" if row.ok else ("[dim]–[/]" if row.ok is None else "[red]✗[/]")
        table.add_row(row.name, mark, row.found, row.fix or "–")
    return table


def doctor(
    target_name: str,
    root: Path,
    *,
    json: bool = False,
    processes: Processes | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Row]:
    """Every row, printed (or one JSON document); exit 1 naming each required row that failed."""
    env = os.environ if environ is None else environ
    rows = _tools()
    path = target_path(target_name, root)
    try:
        target = load_target(target_name, root)
    except ReleaseError as exc:
        rows.append(Row("target file", False, str(exc), "fix the file (docs/production.md#the-target-file)"))
        target = None
    if target is not None:
        sandbox = target.store.kind == "local" and target.remote.kind == "local"
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        rows.append(Row("target file", True, f"{shown}: target {target.name!r}"))
        rows.append(_store_credential(target, env))
        rows += _remote_credentials(target, env)
        signing = check_signing(target, env=env)
        key_fix = "run ./inv sandbox.up" if sandbox else "docs/runbook.md#signing-and-update-controls"
        rows.append(Row("signing key", signing.ok, signing.detail, "" if signing.ok else key_fix))
        if sandbox and processes is not None:
            rows += _sandbox_ports(target, processes)
        rows += _endpoints(target, sandbox)
    failed = [row.name for row in rows if row.required and row.ok is False]
    if json:
        emit_json({"ok": not failed, "target": str(path), "rows": [asdict(row) for row in rows]})
    else:
        out_console().print(_table(f"doctor ({target.name if target else path})", rows))
    if failed:
        raise ReleaseError(f"doctor: {', '.join(failed)} failed (see the fix column)", CHECK_FAILED)
    return rows
