"""uvicorn's httptools protocol with the limits an internet-facing server needs, and a fast path.

Rules:
- Built on ``uvicorn.protocols.http.httptools_impl.HttpToolsProtocol`` (uvicorn 0.54): every answer
  the fast path does not give is uvicorn's and Starlette's own, byte for byte.
- One module per idea, each stating its rules: :mod:`.connection` (the shared :class:`Guard` and
  the per-connection limits, deadlines and fast-path dispatch), :mod:`.responses` (the bytes the
  protocol writes itself), :mod:`.tls` (counting and deferring TLS connections), :mod:`.factory`
  (one protocol stack per accepted socket).
- The public names are imported from here (``feed.protocol``), not from the modules.
"""

from __future__ import annotations

from .connection import FeedProtocol, Guard
from .factory import make_protocol_factory
from .tls import TlsGuard

__all__ = ["FeedProtocol", "Guard", "TlsGuard", "make_protocol_factory"]
