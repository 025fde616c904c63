"""EdDSA signing as Sparkle does it: Sparkle's own vector, RFC 8032's vectors, both key formats,
every key source (keychain through a real ``security`` subprocess, key file, env var)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
from pydantic import ValidationError

from release.errors import ReleaseError
from release.parts.signing import (
    KEYCHAIN_SERVICE,
    decode_secret,
    generate_key_file,
    hash_and_sign,
    load_signer,
    verify_file,
    verify_signature,
)
from schemas import Artifact, Target
from schemas.fileio import atomic_write

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sparkle" / "signature"

# Tests/SUSignatureVerifierTest.m (testVerifyFileAtPathUsingED25519), see fixtures/sparkle/signature/SOURCE.txt.
SPARKLE_PUBLIC = "rhHib+w769W2/6/t+oM1ZxgjBB93BfBKMLO0Qo1etQs="
SPARKLE_VALID = "EIawm2YkDZ2gBfkEMF2+1VuuTeXnCGZOdnMdVgPPvDZioq7bvDayXqKkIIzSjKMmeFdcFJOHdnba5ZV60+gPBw=="
SPARKLE_WRONG = "wTcpXCgWoa4NrJpsfzS61FXJIbv963//12U2ef9xstzVOLPHYK2N4/ojgpDV5N1/NGG1uWMBgK+kEWp0Z5zMDQ=="

# RFC 8032 §7.1, TEST 1 (empty message), TEST 2 (one byte) and TEST 3 (two bytes): secret, public, message, signature.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def old_format(seed: bytes, public: bytes) -> bytes:
    """What early generate_keys stored: orlp/ed25519's expanded key (SHA-512 of the seed, clamped,
    as orlp's ed25519_create_keypair makes it) followed by the public key (common_cli/secret.swift)."""
    expanded = bytearray(hashlib.sha512(seed).digest())
    expanded[0] &= 248
    expanded[31] &= 63
    expanded[31] |= 64
    return bytes(expanded) + public


def test_sparkle_test_vector_verifies_with_our_verifier() -> None:
    key = base64.b64decode(SPARKLE_PUBLIC)
    test_file = FIXTURES / "signed-test-file.txt"
    assert verify_file(key, SPARKLE_VALID, test_file) is None
    assert "does not match" in (verify_file(key, SPARKLE_WRONG, test_file) or "")
    assert "not base64 of 64 bytes" in (verify_file(key, "lol", test_file) or "")
    assert "no sparkle:edSignature" in (verify_file(key, None, test_file) or "")
    # Another file with the same signature: "Wrong file checked".
    assert verify_signature(key, SPARKLE_VALID, test_file.read_bytes()[:-1] + b"?") is not None


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_from_both_stored_formats(
    secret: str, public: str, message: str, signature: str
) -> None:
    seed, pub = bytes.fromhex(secret), bytes.fromhex(public)
    new = decode_secret(b64(seed), "test")
    old = decode_secret(b64(old_format(seed, pub)), "test")
    assert new.public_key == old.public_key == pub
    assert new.sign(bytes.fromhex(message)).hex() == signature
    assert old.sign(bytes.fromhex(message)).hex() == signature


@pytest.mark.parametrize("stored", ["seed", "old"])
def test_our_signature_verifies_with_libsodium(tmp_path: Path, stored: str) -> None:
    seed = os.urandom(32)
    reference = nacl.signing.SigningKey(seed)
    public = bytes(reference.verify_key)
    secret = seed if stored == "seed" else old_format(seed, public)
    archive = tmp_path / "Nexy.dmg"
    archive.write_bytes(os.urandom(3 * (1 << 20) + 17))
    sha256, size, signature = hash_and_sign(archive, decode_secret(b64(secret), "test"))
    data = archive.read_bytes()
    assert (sha256, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert signature is not None and len(base64.b64decode(signature)) == 64
    # libsodium's crypto_sign_verify_detached: an RFC 8032 verifier independent of OpenSSL.
    reference.verify_key.verify(data, base64.b64decode(signature))
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 1
    with pytest.raises(nacl.exceptions.BadSignatureError):
        reference.verify_key.verify(bytes(changed), base64.b64decode(signature))


def test_key_file_in_generate_keys_format(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ed25519.key"
    public = generate_key_file(path, lambda p, data: atomic_write(p, data, mode=0o600))
    text = path.read_text()
    assert len(base64.b64decode(text, validate=True)) == 32 and "\n" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text(f"  {text}\n")  # sign_update trims whitespace and newlines
    assert decode_secret(path.read_text(), "file").public_key_b64 == public


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64!", "not base64 text"),
        (b64(bytes(64)), "decodes to 64 bytes"),
        (b64(bytes(31)), "decodes to 31 bytes"),
    ],
)
def test_malformed_secrets_are_refused_without_showing_them(text: str, message: str) -> None:
    with pytest.raises(ReleaseError, match=message) as caught:
        decode_secret(text, "signing key file k")
    assert text not in str(caught.value)


def test_old_format_with_a_foreign_public_half_is_refused() -> None:
    seed = os.urandom(32)
    other = bytes(nacl.signing.SigningKey(os.urandom(32)).verify_key)
    with pytest.raises(ReleaseError, match="public half does not belong"):
        decode_secret(b64(old_format(seed, other)), "keychain item ed25519")


def test_signer_repr_names_only_the_public_key() -> None:
    seed = os.urandom(32)
    signer = decode_secret(b64(seed), "test")
    assert b64(seed) not in repr(signer) and signer.public_key_b64 in repr(signer)
    assert not hasattr(signer, "__dict__")


def _target(sandbox_target: tuple[Target, Path], key: dict[str, Any]) -> Target:
    target, _ = sandbox_target
    data = target.model_dump(mode="json", exclude_none=True)
    data["signing"] = {"key": key, "required": True}
    return Target.model_validate(data)


@pytest.mark.parametrize("stored", ["seed", "old"])
def test_keychain_key_is_read_as_sign_update_reads_it(
    sandbox_target: tuple[Target, Path], stored: str, tmp_path: Path
) -> None:
    seed = os.urandom(32)
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    secret = b64(seed if stored == "seed" else old_format(seed, public))
    asked: list[list[str]] = []

    def security(argv: list[str]) -> subprocess.CompletedProcess[str]:
        asked.append(argv)
        return subprocess.CompletedProcess(argv, 0, secret + "\n", "")

    signer = load_signer(_target(sandbox_target, {"kind": "keychain", "account": "nexy"}), runner=security)
    assert asked == [["security", "find-generic-password", "-s", KEYCHAIN_SERVICE, "-a", "nexy", "-w"]]
    assert signer is not None and signer.public_key == public
    archive = tmp_path / "Nexy.pkg"
    archive.write_bytes(os.urandom(4096))
    _, _, signature = hash_and_sign(archive, signer)
    assert verify_file(public, signature, archive) is None


FAKE_SECURITY = """#!{python}
# Stands in for macOS security(1) find-generic-password -s SERVICE -a ACCOUNT -w: prints the
# item's password and exits 0, or prints security's not-found line to stderr and exits 44.
import json, sys
args = sys.argv[1:]
items = json.load(open({store!r}))
assert args[0] == "find-generic-password" and args[-1] == "-w", args
service, account = args[args.index("-s") + 1], args[args.index("-a") + 1]
if (service, account) != (items["service"], items["account"]):
    sys.stderr.write("security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain.\\n")
    sys.exit(44)
print(items["password"])
"""


def test_keychain_through_a_real_subprocess(
    sandbox_target: tuple[Target, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = os.urandom(32)
    store = tmp_path / "keychain.json"
    store.write_text(f'{{"service": "{KEYCHAIN_SERVICE}", "account": "ed25519", "password": "{b64(seed)}"}}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "security"
    tool.write_text(FAKE_SECURITY.format(python=sys.executable, store=str(store)))
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    signer = load_signer(_target(sandbox_target, {"kind": "keychain"}))
    assert signer is not None
    assert signer.public_key == bytes(nacl.signing.SigningKey(seed).verify_key)
    with pytest.raises(ReleaseError, match="could not be found in the keychain") as caught:
        load_signer(_target(sandbox_target, {"kind": "keychain", "account": "someone-else"}))
    assert b64(seed) not in str(caught.value) and "generate_keys" in str(caught.value)


def test_env_var_names_the_key_file(sandbox_target: tuple[Target, Path], tmp_path: Path) -> None:
    key_file = tmp_path / "ci.key"
    public = generate_key_file(key_file, lambda p, data: atomic_write(p, data, mode=0o600))
    target = _target(sandbox_target, {"kind": "env", "var": "NEXY_ED_KEY"})
    signer = load_signer(target, env={"NEXY_ED_KEY": str(key_file)})
    assert signer is not None and signer.public_key_b64 == public
    with pytest.raises(ReleaseError, match=r"\$NEXY_ED_KEY is not set"):
        load_signer(target, env={})
    with pytest.raises(ReleaseError, match="does not exist"):
        load_signer(target, env={"NEXY_ED_KEY": str(tmp_path / "missing.key")})


def test_manifest_signature_must_be_64_bytes() -> None:
    artifact = {"name": "Nexy.dmg", "url": "https://example.org/Nexy.dmg", "size": 1, "sha256": "a" * 64}
    assert Artifact.model_validate(artifact | {"ed_signature": SPARKLE_VALID}).ed_signature == SPARKLE_VALID
    for wrong, why in (
        ("c2lnbmF0dXJl", "decodes to 9 bytes"),
        (SPARKLE_VALID[:-4], "decodes to 63 bytes"),
        ("a b", "pattern"),
    ):
        with pytest.raises(ValidationError, match=why):
            Artifact.model_validate(artifact | {"ed_signature": wrong})
