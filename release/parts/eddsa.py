"""Ed25519 signing and verification of whole archive files, as Sparkle's ``sign_update`` and client do.

Rules:
- The signature is Ed25519 over the whole archive file, stored as the base64 of its 64 bytes
  (Sparkle ``sign_update/main.swift`` ``edSignature``; a client refuses any other length,
  ``Sparkle/SUSignatures.m`` ``initWithEd:``).
- A ``Signer`` holds a loaded key (``release.parts.signing`` loads it) and never shows its secret.
- Publishing hashes and signs a large archive from one mapping, in two passes: the file is
  memory-mapped (as ``sign_update`` maps it: ``Data(contentsOf:options: .mappedIfSafe)``); sha256
  and Ed25519's nonce hash share the first pass, H(R ‖ A ‖ M) is the second (Ed25519's
  deterministic nonce needs the message twice, RFC 8032 §5.1.6; deterministic signatures keep a
  re-publish idempotent). Pages already hashed are released from the process (``MADV_DONTNEED``;
  the second pass usually finds them in the page cache), so peak memory does not grow with the
  archive.
- Signing follows orlp/ed25519 ``ed25519_sign`` (what ``sign_update`` runs) on libsodium's scalar
  and point primitives (PyNaCl), because the 96-byte key format's expanded key cannot become a seed
  again and because the two hash passes must stream; verification is ``cryptography``'s Ed25519
  (OpenSSL), an implementation independent of the signer. No curve arithmetic is written here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import nacl.bindings as sodium
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from release.errors import ReleaseError
from release.outside.stream import CHUNK, Progress

__all__ = [
    "SIGNATURE_BYTES",
    "Chunks",
    "Signer",
    "b64_text",
    "hash_and_sign",
    "mapped",
    "strict_b64",
    "verify_file",
    "verify_signature",
]

SIGNATURE_BYTES: Final = 64


def b64_text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def strict_b64(text: str) -> bytes | None:
    """Decode like Foundation's ``initWithBase64EncodedString:options:0``: trimmed, no stray characters."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


Chunks = Callable[[], Iterator[bytes | memoryview]]


class Signer:
    """A loaded private key. Its secret is never shown: repr names only the public key."""

    __slots__ = ("_expanded", "public_key")

    def __init__(self, public_key: bytes, expanded: bytes) -> None:
        self.public_key = public_key
        self._expanded = expanded

    def __repr__(self) -> str:
        return f"Signer(public_key={self.public_key_b64!r})"

    @property
    def public_key_b64(self) -> str:
        return b64_text(self.public_key)

    def sign(self, message: bytes | memoryview) -> bytes:
        return self.sign_passes(lambda: iter((message,)))

    def sign_passes(self, passes: Chunks) -> bytes:
        """Sign the message ``passes()`` yields in chunks; it is called twice, once per hash pass.

        orlp/ed25519 ``ed25519_sign`` (what ``sign_update`` runs), i.e. RFC 8032 §5.1.6 with the
        expanded key (clamped scalar a ‖ prefix): r = H(prefix ‖ M); R = r·B; k = H(R ‖ A ‖ M);
        S = r + k·a mod L. The scalar and point operations are libsodium's.
        """
        scalar, prefix = self._expanded[:32], self._expanded[32:]
        nonce = hashlib.sha512(prefix)
        for chunk in passes():
            nonce.update(chunk)
        r = sodium.crypto_core_ed25519_scalar_reduce(nonce.digest())
        big_r = sodium.crypto_scalarmult_ed25519_base_noclamp(r)
        hram = hashlib.sha512(big_r + self.public_key)
        for chunk in passes():
            hram.update(chunk)
        k = sodium.crypto_core_ed25519_scalar_reduce(hram.digest())
        a = sodium.crypto_core_ed25519_scalar_reduce(scalar + bytes(32))
        s = sodium.crypto_core_ed25519_scalar_add(r, sodium.crypto_core_ed25519_scalar_mul(k, a))
        return bytes(big_r) + bytes(s)


@contextmanager
def mapped(path: Path) -> Iterator[mmap.mmap]:
    """A read-only mapping of ``path`` (what Sparkle's verifier does: NSDataReadingMappedAlways)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise ReleaseError(f"{path} is empty: an empty archive is never an update")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            yield view


def _release_pages(view: mmap.mmap, start: int, length: int) -> None:
    # A page already hashed leaves this process's resident set (it stays in the page cache for the
    # second pass), so memory stays flat whatever the archive's size.
    if hasattr(mmap, "MADV_DONTNEED"):
        view.madvise(mmap.MADV_DONTNEED, start, length)


def hash_and_sign(
    path: Path, signer: Signer | None, progress: Progress | None = None
) -> tuple[str, int, str | None]:
    """(sha256 hex, size, base64 signature or None) from one mapping of ``path``, two passes.

    The first pass over the mapping feeds sha256 and Ed25519's nonce hash together, the second
    (Ed25519's H(R ‖ A ‖ M)) usually finds the pages still in the page cache. Nothing is copied:
    hashlib reads the mapping in place, one 1 MiB window at a time.
    """
    digest = hashlib.sha256()
    with mapped(path) as view, memoryview(view) as message:
        size = len(message)
        passes = 0

        def chunks() -> Iterator[memoryview]:
            nonlocal passes
            passes += 1
            first = passes == 1
            for start in range(0, size, CHUNK):
                with message[start : start + CHUNK] as chunk:  # released at once: the mapping closes later
                    if first:
                        digest.update(chunk)
                        if progress is not None:
                            progress(len(chunk))
                    yield chunk
                _release_pages(view, start, min(CHUNK, size - start))

        if signer is None:
            for _ in chunks():
                pass
            return digest.hexdigest(), size, None
        signature = b64_text(signer.sign_passes(chunks))
    return digest.hexdigest(), size, signature


def verify_signature(public_key: bytes, signature_b64: str | None, message: bytes | memoryview) -> str | None:
    """None when valid, else why not (the reasons Sparkle's SUSignatureVerifier.m rejects for)."""
    if signature_b64 is None:
        return "no sparkle:edSignature, but the app has SUPublicEDKey: Sparkle rejects the update"
    signature = strict_b64(signature_b64)
    if signature is None or len(signature) != SIGNATURE_BYTES:
        return "sparkle:edSignature is not base64 of 64 bytes: Sparkle rejects the update"
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return "sparkle:edSignature does not match the bytes (wrong key, or other bytes than were signed)"
    return None


def verify_file(public_key: bytes, signature_b64: str | None, path: Path) -> str | None:
    with mapped(path) as view, memoryview(view) as message:
        return verify_signature(public_key, signature_b64, message)
