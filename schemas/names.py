"""The bounded names every RESULT document uses (status, adoption, accept).

Rules: what a RESULT line cannot cut (schemas/fit.py) is bounded here, so the worst document still
fits Run Command's 4,096-byte answer: names are short, counts are small. Names and digests are
plain ASCII with nothing JSON escapes, so their bytes are their length.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

__all__ = ["VERSION_MAX", "Digest", "KeyName", "Name"]

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@+/ -]{0,32}$")]
KeyName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:+/=-]{0,80}$")]
VERSION_MAX = 64
