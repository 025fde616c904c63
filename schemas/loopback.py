"""Whether a host names this machine: the one test of "loopback" for every config that allows only it.

Rules: ``localhost`` and any loopback IP address (127.0.0.0/8, ``::1``, with or without the
brackets a URL puts around an IPv6 address) are loopback; every other name is not, since
resolving it would ask the network what the config means.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    bare = host.strip("[]")
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False
