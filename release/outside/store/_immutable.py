"""What to tell an operator about an immutable fixed release (any store, no SDK import).

Rules: the line says only what is true on GitHub ("Immutable releases",
docs.github.com/en/code-security/concepts/supply-chain-security/immutable-releases): the assets of a
published immutable release can never be replaced, turning the setting off does not unlock it, and
deleting it burns its tag for good (community discussion #178351 quotes GitHub's 422 "tag_name was
used by an immutable release"), so the fixed URL every installed app updates from would 404 forever.
It fits preflight's 300-character row, remedy included.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["immutable_message"]


def immutable_message(repo: str, tags: Sequence[str]) -> str:
    """The one line for immutable fixed releases: what is true, what not to do, what to do instead."""
    many = len(tags) > 1
    return (
        f"release{'s' if many else ''} {', '.join(tags)} in {repo} {'are' if many else 'is'} immutable: "
        "assets can never be replaced, even with the setting off; do not delete "
        f"{'them' if many else 'it'} (a tag can never be reused; the fixed URL would 404 for good); "
        "instead point the target's channel tags and update URLs at a new release under another tag"
    )
