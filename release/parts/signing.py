"""Where the EdDSA (Ed25519) signing key comes from and how it is decoded, as Sparkle's own tools do it.

Rules:
- The private key comes from where the target's ``signing.key`` says: the login keychain item that
  ``generate_keys`` makes (service ``https://sparkle-project.org``, account ``ed25519`` by default:
  ``generate_keys/main.swift`` ``commonKeychainItemAttributes``), a key file in the format
  ``sign_update --ed-key-file`` reads, or an environment variable naming such a file. Either way the
  secret is base64 text of 32 bytes (the seed, current ``generate_keys``) or 96 bytes (an older
  ``generate_keys``: orlp/ed25519's 64-byte expanded private key then the 32-byte public key),
  decoded as ``common_cli/secret.swift`` ``decodePrivateAndPublicKeys`` does.
- The secret never leaves this module and ``release.parts.eddsa``: no repr, message, log line or report
  shows it; errors name the source (file path, variable, keychain item), never its content.
- The public key is ``SUPublicEDKey`` in the app's Info.plist (base64 of 32 bytes, whitespace
  trimmed, as ``SUSignatures.m`` ``SUPublicKeys initWithEd:`` decodes it).
- Signing and verifying whole files (one mapping, two passes) live in ``release.parts.eddsa``; their
  names are re-exported here, so ``release.parts.signing`` stays the one import for callers.
"""

from __future__ import annotations

import hashlib
import os
import plistlib
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import nacl.bindings as sodium
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from release.errors import ReleaseError
from release.parts.eddsa import (
    Signer,
    b64_text,
    hash_and_sign,
    mapped,
    strict_b64,
    verify_file,
    verify_signature,
)
from schemas import Target
from schemas.target import EnvKey, FileKey, KeychainKey, PlistFile

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
PUBLIC_KEY_BYTES: Final = 32


class CommandRunner(Protocol):
    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]: ...


def run_command(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


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
    secret = strict_b64(text)
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
    public = strict_b64(text)
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


def generate_key_file(path: Path, write: Callable[[Path, bytes], None]) -> str:
    """Make a key as generate_keys does (a random 32-byte seed) and store it in the format
    ``generate_keys -x`` exports and ``sign_update --ed-key-file`` reads; returns the public key."""
    seed = os.urandom(32)
    write(path, b64_text(seed).encode("ascii"))
    return decode_secret(b64_text(seed), str(path)).public_key_b64
