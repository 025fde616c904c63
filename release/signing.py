"""EdDSA (Ed25519) signing and checking of update archives, as Sparkle's own tools do it.

Rules:
- The signature is Ed25519 over the whole archive file, stored as the base64 of its 64 bytes
  (Sparkle ``sign_update/main.swift`` ``edSignature``; a client refuses any other length,
  ``Sparkle/SUSignatures.m`` ``initWithEd:``).
- The private key comes from where the target's ``signing.key`` says: the login keychain item that
  ``generate_keys`` makes (service ``https://sparkle-project.org``, account ``ed25519`` by default:
  ``generate_keys/main.swift`` ``commonKeychainItemAttributes``), a key file in the format
  ``sign_update --ed-key-file`` reads, or an environment variable naming such a file. Either way the
  secret is base64 text of 32 bytes (the seed, current ``generate_keys``) or 96 bytes (an older
  ``generate_keys``: orlp/ed25519's 64-byte expanded private key then the 32-byte public key),
  decoded as ``common_cli/secret.swift`` ``decodePrivateAndPublicKeys`` does.
- The secret never leaves this module: no repr, message, log line or report shows it; errors name
  the source (file path, variable, keychain item), never its content.
- The public key is ``SUPublicEDKey`` in the app's Info.plist (base64 of 32 bytes, whitespace
  trimmed, as ``SUSignatures.m`` ``SUPublicKeys initWithEd:`` decodes it).
- Publishing hashes and signs a large archive from one mapping, in two passes: the file is
  memory-mapped (as ``sign_update`` maps it: ``Data(contentsOf:options: .mappedIfSafe)``); sha256
  and Ed25519's nonce hash share the first pass, H(R ‖ A ‖ M) is the second (Ed25519's
  deterministic nonce needs the message twice, RFC 8032 §5.1.6; deterministic signatures keep a
  re-publish idempotent). Pages already hashed are released from the process (``MADV_DONTNEED``;
  the second pass usually finds them in the page cache), so peak memory does not grow with the
  archive.
- Signing follows orlp/ed25519 ``ed25519_sign`` (what ``sign_update`` runs) on libsodium's scalar
  and point primitives (PyNaCl), because the 96-byte format's expanded key cannot become a seed
  again and because the two hash passes must stream; verification is ``cryptography``'s Ed25519
  (OpenSSL), an implementation independent of the signer. No curve arithmetic is written here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import mmap
import os
import plistlib
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import nacl.bindings as sodium
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas import Target
from schemas.target import EnvKey, FileKey, KeychainKey, PlistFile

from .errors import ReleaseError
from .hashing import CHUNK
from .store.base import Progress

__all__ = [
    "KEYCHAIN_SERVICE",
    "CommandRunner",
    "KeyCheck",
    "Signer",
    "check_signing",
    "decode_public_key",
    "decode_secret",
    "generate_key_file",
    "hash_and_sign",
    "info_plist_path",
    "load_signer",
    "mapped",
    "plist_public_key",
    "verify_file",
    "verify_signature",
]

# generate_keys/main.swift commonKeychainItemAttributes: kSecAttrService.
KEYCHAIN_SERVICE: Final = "https://sparkle-project.org"
SIGNATURE_BYTES: Final = 64
PUBLIC_KEY_BYTES: Final = 32


class CommandRunner(Protocol):
    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]: ...


def run_command(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _strict_b64(text: str) -> bytes | None:
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
        return _b64(self.public_key)

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


def _expand_seed(seed: bytes) -> bytes:
    """RFC 8032 §5.1.5 (orlp's ed25519_create_keypair): SHA-512 of the seed, the scalar half pruned."""
    expanded = bytearray(hashlib.sha512(seed).digest())
    expanded[0] &= 248
    expanded[31] &= 63
    expanded[31] |= 64
    return bytes(expanded)


def _public_of(expanded: bytes) -> bytes:
    return bytes(
        sodium.crypto_scalarmult_ed25519_base_noclamp(
            sodium.crypto_core_ed25519_scalar_reduce(expanded[:32] + bytes(32))
        )
    )


def decode_secret(text: str, where: str) -> Signer:
    """The key pair in a ``generate_keys`` secret (base64 of 32 or 96 bytes); ``where`` names its source."""
    secret = _strict_b64(text)
    if secret is None:
        raise ReleaseError(f"{where}: not base64 text (expected a key made by Sparkle's generate_keys)")
    if len(secret) == 32:
        # The public key from OpenSSL, the signing scalar from the RFC's derivation: they must agree.
        public = (
            Ed25519PrivateKey.from_private_bytes(secret)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        expanded = _expand_seed(secret)
        if _public_of(expanded) != public:
            raise ReleaseError(
                f"{where}: the key's derivation disagrees with OpenSSL's (a broken crypto library)"
            )
        return Signer(public, expanded)
    if len(secret) == 96:
        expanded, public = secret[:64], secret[64:]
        # A pair whose halves disagree would sign with one key and claim another: refuse it here.
        if _public_of(expanded) != public:
            raise ReleaseError(f"{where}: the 96-byte key's public half does not belong to its private half")
        return Signer(public, expanded)
    raise ReleaseError(
        f"{where}: the key decodes to {len(secret)} bytes; Sparkle keys are 32 bytes (or 96, older format)"
    )


def _keychain_secret(account: str, runner: CommandRunner) -> str:
    # security(1) find-generic-password -w prints only the item's password: generate_keys stores the
    # secret there as base64 text (storeSecret: kSecValueData = secret.base64EncodedData()).
    argv = ["security", "find-generic-password", "-s", KEYCHAIN_SERVICE, "-a", account, "-w"]
    where = f"keychain item {KEYCHAIN_SERVICE} / {account}"
    try:
        done = runner(argv)
    except FileNotFoundError:
        raise ReleaseError(
            f"{where}: the security tool is missing (the keychain is only on macOS); "
            "use signing.key kind 'file' or 'env' here"
        ) from None
    except subprocess.TimeoutExpired:
        raise ReleaseError(f"{where}: the keychain did not answer (locked, or a prompt is waiting)") from None
    if done.returncode != 0:
        # security's stderr names the failure (item not found, access denied); it never holds the secret.
        reason = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ReleaseError(
            f"{where}: {reason[0][:160]}; run Sparkle's generate_keys (or generate_keys -f FILE) first"
        )
    return done.stdout


def _file_secret(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ReleaseError(f"{where}: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{where}: {path} cannot be read ({type(exc).__name__})") from None


def load_signer(
    target: Target, *, runner: CommandRunner = run_command, env: Mapping[str, str] | None = None
) -> Signer | None:
    """The target's signing key, or None when the target does not sign."""
    signing = target.signing
    if signing is None:
        return None
    key = signing.key
    if isinstance(key, KeychainKey):
        return decode_secret(_keychain_secret(key.account, runner), f"keychain item {key.account}")
    if isinstance(key, FileKey):
        path = target.path(key.path)
        return decode_secret(_file_secret(path, "signing key file"), f"signing key file {path}")
    assert isinstance(key, EnvKey)
    environ = os.environ if env is None else env
    named = environ.get(key.var, "").strip()
    if not named:
        raise ReleaseError(f"signing key: ${key.var} is not set (it must name a sign_update --ed-key-file)")
    path = target.path(named)
    where = f"signing key file ${key.var}"
    return decode_secret(_file_secret(path, where), f"{where} ({path})")


def decode_public_key(text: str) -> bytes | None:
    """SUPublicEDKey's 32 bytes, or None when Sparkle would find the key invalid."""
    public = _strict_b64(text)
    return public if public is not None and len(public) == PUBLIC_KEY_BYTES else None


def info_plist_path(target: Target) -> Path | None:
    """The app's Info.plist: ``signing.info_plist``, else the one plist among the version-linked files."""
    workspace = target.path(target.workspace)
    if target.signing is not None and target.signing.info_plist is not None:
        return workspace / target.signing.info_plist
    plists = [file for file in target.version_files if isinstance(file, PlistFile)]
    return workspace / plists[0].path if len(plists) == 1 else None


def plist_public_key(target: Target) -> tuple[Path | None, str | None]:
    """(the Info.plist, its SUPublicEDKey string or None); raises when the plist cannot be read."""
    path = info_plist_path(target)
    if path is None:
        return None, None
    try:
        document = plistlib.loads(path.read_bytes())
    except FileNotFoundError:
        raise ReleaseError(f"{path} does not exist (the app's Info.plist holds SUPublicEDKey)") from None
    except (OSError, plistlib.InvalidFileException, ValueError) as exc:
        raise ReleaseError(f"{path} is not a readable plist ({type(exc).__name__})") from None
    value = document.get("SUPublicEDKey") if isinstance(document, dict) else None
    return path, value if isinstance(value, str) else None


@dataclass(frozen=True)
class KeyCheck:
    """The signing key against the app's SUPublicEDKey: the preflight row, and the signer to use."""

    ok: bool
    detail: str
    signer: Signer | None


def check_signing(
    target: Target, *, runner: CommandRunner = run_command, env: Mapping[str, str] | None = None
) -> KeyCheck:
    required = target.signing is not None and target.signing.required
    try:
        plist, public = plist_public_key(target)
        signer = load_signer(target, runner=runner, env=env)
    except ReleaseError as exc:
        return KeyCheck(False, str(exc), None)
    shown = plist.name if plist is not None else "Info.plist"
    if signer is None:
        if public is not None:
            # SUSignatureVerifier.m: an app with a key rejects every update that has no signature.
            return KeyCheck(
                False, f"{shown} has SUPublicEDKey {public.strip()} but the target has no signing: key", None
            )
        return KeyCheck(True, "not signing (the target has no signing: block; the app has no key)", None)
    if public is None:
        if required:
            return KeyCheck(
                False,
                f"{shown} has no SUPublicEDKey but signing is required; add "
                f"<key>SUPublicEDKey</key><string>{signer.public_key_b64}</string>",
                None,
            )
        return KeyCheck(True, f"signing with {signer.public_key_b64}; {shown} has no SUPublicEDKey", signer)
    if decode_public_key(public) is None:
        return KeyCheck(False, f"{shown} SUPublicEDKey {public.strip()!r} is not base64 of 32 bytes", None)
    if decode_public_key(public) != signer.public_key:
        return KeyCheck(
            False,
            f"signing key {signer.public_key_b64} does not match {shown} SUPublicEDKey {public.strip()}",
            None,
        )
    return KeyCheck(True, f"signing key matches {shown} SUPublicEDKey {signer.public_key_b64}", signer)


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
        signature = _b64(signer.sign_passes(chunks))
    return digest.hexdigest(), size, signature


def verify_signature(public_key: bytes, signature_b64: str | None, message: bytes | memoryview) -> str | None:
    """None when valid, else why not (the reasons Sparkle's SUSignatureVerifier.m rejects for)."""
    if signature_b64 is None:
        return "no sparkle:edSignature, but the app has SUPublicEDKey: Sparkle rejects the update"
    signature = _strict_b64(signature_b64)
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


def generate_key_file(path: Path, write: Callable[[Path, bytes], None]) -> str:
    """Make a key as generate_keys does (a random 32-byte seed) and store it in the format
    ``generate_keys -x`` exports and ``sign_update --ed-key-file`` reads; returns the public key."""
    seed = os.urandom(32)
    write(path, _b64(seed).encode("ascii"))
    return decode_secret(_b64(seed), str(path)).public_key_b64
