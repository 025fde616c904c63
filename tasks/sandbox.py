"""``sandbox.*``: the production topology on loopback (reconciler, two TLS feeds, asset store).

Rules: ``up`` is idempotent; ``down`` stops only processes this tool started; ``status`` always
exits 0 and says what is alive.
"""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context

from release.console import out_console
from release.parts.session import Session

from ._options import TARGET, load_target_option, task

__all__ = ["sandbox_clients", "sandbox_down", "sandbox_status", "sandbox_up"]


@task(name="up", help={"target": TARGET})
def sandbox_up(c: Context, target: str | None = None) -> None:
    """Start the sandbox (reconciler, production and staging feeds over TLS); running parts are kept.

    Example: ./inv sandbox.up
    """
    from release.sandbox import status, up

    console = out_console()
    tgt = load_target_option(c, target)
    up(tgt, say=console.print)
    for name, process in status(tgt)["processes"].items():
        where = [process[key] for key in ("url", "metrics_url") if process[key]]
        console.print(f"{name}: pid {process['pid']}" + "".join(f"  {url}" for url in where))


@task(name="down", help={"target": TARGET})
def sandbox_down(c: Context, target: str | None = None) -> None:
    """Stop the sandbox processes this tool started (nothing else is ever signalled).

    Example: ./inv sandbox.down
    """
    from release.sandbox import down

    down(load_target_option(c, target), say=out_console().print)


@task(name="status", help={"json": "one JSON document on stdout", "target": TARGET})
def sandbox_status(c: Context, json: bool = False, target: str | None = None) -> None:
    """Show the sandbox's URLs and whether each process is alive (exit 0 either way).

    Example: ./inv sandbox.status --json
    """
    from rich.table import Table

    from release.sandbox import status

    with Session.open(load_target_option(c, target), "sandbox.status", json=json) as session:
        document = status(session.target)
        table = Table(title=f"sandbox {document['dir']}", title_justify="left")
        # One word per cell, none wraps: the table fits 80 columns whole (the logs are named below).
        for column in ("process", "alive", "pid", "url"):
            table.add_column(column, no_wrap=True)
        for name, process in document["processes"].items():
            alive = "[green]yes[/]" if process["alive"] else "[red]no[/]"
            table.add_row(name, alive, str(process["pid"] or "–"), process["url"] or "–")
        session.finish(table, document)
        scrapes = [
            f"{name} {p['metrics_url']}" for name, p in document["processes"].items() if p["metrics_url"]
        ]
        if scrapes:
            session.show(f"metrics (Prometheus, loopback): {', '.join(scrapes)}")
        logs = {str(Path(process["log"]).parent) for process in document["processes"].values()}
        session.show(f"logs: {', '.join(sorted(logs))}/<process>.log")
        session.show(f"assets: {document['download_url']}  (CA: {document['ca_bundle']})")


@task(name="clients", help={"seed": "the population's seed (default 23)", "target": TARGET})
def sandbox_clients(c: Context, seed: int = 23, target: str | None = None) -> None:
    """Simulated Sparkle clients: a fixed, seeded set of appcast checks of several versions (loopback).

    Example: ./inv sandbox.clients
    """
    from release.sandbox.clients import simulate

    simulate(load_target_option(c, target), out_console().print, seed)
