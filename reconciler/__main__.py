"""``python -m reconciler`` runs the same CLI as ``nexy-reconciler``."""

from .cli import main

__all__: list[str] = []

raise SystemExit(main())
