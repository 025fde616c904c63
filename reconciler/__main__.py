"""``python -m reconciler`` runs the same CLI as ``nexy-reconciler``."""

from schemas.startup import skip_httpx_cli

skip_httpx_cli()  # before the CLI's imports bring httpx in

from .cli import main  # noqa: E402

__all__: list[str] = []

raise SystemExit(main())
