"""The sandbox's own certificate authority and the feeds' server certificate, made once.

Rules:
- Made with ``cryptography``: an EC P-256 CA valid ten years that can sign leaves only
  (``path_length=0``) and a leaf for ``127.0.0.1`` and ``localhost`` (serverAuth only) valid two
  years (under Apple's 825-day limit for TLS server certificates), signed by that CA.
- Not trustme (issue 25.5, measured with trustme 1.2.1): its public API fixes the CA at
  ``path_length=9`` and an expiry in the year 3000, and its leaves carry clientAuth and codeSigning
  beside serverAuth; none of that can be set, and this CA's key stays on the Mac for years. It would
  save about 60 lines here at the price of a runtime dependency of the workstation side that its
  authors meant for test suites. trustme stays a test dependency.
- Made once: when the CA, its key, the leaf and its key all exist, nothing is written. If any is
  missing, all four are made again, so a leaf never outlives the CA that signed it.
- Private keys are written with mode 0600 through ``atomic_write``; certificates with 0644.
- Clients trust the CA (``ssl_context``), never "verify=False".
"""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from release.outside.probes import trust_context
from release.outside.sandbox_layout import SandboxPaths
from schemas import atomic_write

__all__ = ["ensure_certificates", "ssl_context"]

LEAF_HOSTS = ("localhost",)
LEAF_IPS = ("127.0.0.1",)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "nexy-release sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("nexy-release sandbox CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, now: datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in LEAF_HOSTS]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in LEAF_IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("nexy-release sandbox feed"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def ensure_certificates(paths: SandboxPaths, now: datetime | None = None) -> bool:
    """Make the CA and the leaf unless all four files exist; True when they were made now."""
    files = (paths.ca_bundle, paths.ca_key, paths.server_cert, paths.server_key)
    if all(path.is_file() for path in files):
        return False
    moment = now or datetime.now(UTC)
    ca_key, ca_cert = _make_ca(moment)
    leaf_key, leaf_cert = _make_leaf(ca_key, ca_cert, moment)
    # Keys first: a crash before the certificates leaves "not all four", so the next up remakes all.
    atomic_write(paths.ca_key, _key_pem(ca_key), mode=0o600)
    atomic_write(paths.server_key, _key_pem(leaf_key), mode=0o600)
    atomic_write(paths.server_cert, leaf_cert.public_bytes(serialization.Encoding.PEM))
    atomic_write(paths.ca_bundle, ca_cert.public_bytes(serialization.Encoding.PEM))
    return True


def ssl_context(ca_bundle: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the given CA bundle (and checks the host name)."""
    return trust_context(ca_bundle)
