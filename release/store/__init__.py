"""Where release assets live: ``local`` (sandbox directories) or ``github`` (GitHub Releases)."""

from .base import Asset, FixedRelease, Progress, Store, UploadResult

__all__ = ["Asset", "FixedRelease", "Progress", "Store", "UploadResult"]
