"""Where release assets live: ``local`` (sandbox directories) or ``github`` (GitHub Releases)."""

from release.outside.store.base import Asset, FixedRelease, Progress, Store, UploadResult

__all__ = ["Asset", "FixedRelease", "Progress", "Store", "UploadResult"]
