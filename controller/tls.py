"""HTTPS for the web UI on the station's LAN: browsers allow the microphone (recording, going
live) only in a secure context, and tokens must not cross the LAN in clear text.

With ``tls_cert``/``tls_key`` the operator's certificate is used. Otherwise the controller
makes a local certificate authority once (``data_dir/tls/ca.crt``, to be trusted on the
station's phones and PCs: docs/operations.md) and a server certificate signed by it for
every name and address the machine answers on, made again when it expires or a name or
address is new."""

from __future__ import annotations

import ipaddress
import logging
import socket
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .fsutil import write_private

log = logging.getLogger(__name__)

SERVER_DAYS = 397  # what browsers accept for a server certificate (Apple's limit)
CA_DAYS = 3650
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # the server certificate (with the CA after it, when made here)
    key: Path
    ca: Path | None  # the local CA's certificate (None: the operator's own certificate)


def local_names() -> tuple[list[str], list[str]]:
    """DNS names and IP addresses this machine answers on (for the certificate's SAN)."""
    host = socket.gethostname()
    names = {"localhost", host, f"{host}.local"}
    try:
        names.add(socket.getfqdn())
    except OSError:
        pass
    addresses = {"127.0.0.1", "::1"}
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5)
        addresses.update(a for a in out.stdout.split() if a)
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        addresses.update(info[4][0] for info in socket.getaddrinfo(host, None))
    except OSError:
        pass
    valid = []
    for a in addresses:
        try:
            valid.append(str(ipaddress.ip_address(a.split("%")[0])))
        except ValueError:
            continue
    return sorted(n for n in names if n), sorted(set(valid))


def ensure_certificate(
    tls_dir: Path,
    station: str,
    extra_names: list[str] | None = None,
    cert: Path | None = None,
    key: Path | None = None,
) -> TlsFiles:
    """The operator's files, or the local CA's certificate for this machine (made if
    missing, expiring, or not covering a name or address it now has)."""
    if cert is not None and key is not None:
        return TlsFiles(cert, key, None)
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca(tls_dir, station)
    names, addresses = local_names()
    for extra in extra_names or []:  # an address given as a name must be an IP entry
        try:
            addresses.append(str(ipaddress.ip_address(extra)))
        except ValueError:
            names.append(extra)
    names, addresses = sorted(set(names)), sorted(set(addresses))
    cert_path, key_path = tls_dir / "server.crt", tls_dir / "server.key"
    if not _covers(cert_path, names, addresses):
        _issue(cert_path, key_path, ca_cert, ca_key, station, names, addresses)
        log.info("HTTPS certificate made for %s", ", ".join(names + addresses))
    return TlsFiles(cert_path, key_path, tls_dir / "ca.crt")


def spki_sha256(cert_path: Path) -> str:
    """The base64 SHA-256 of a certificate's public key (browsers pin a key by it)."""
    import base64

    pem = (
        cert_path.read_bytes().split(b"-----END CERTIFICATE-----")[0]
        + b"-----END CERTIFICATE-----\n"
    )
    public = (
        x509.load_pem_x509_certificate(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(public)
    return base64.b64encode(digest.finalize()).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ca(tls_dir: Path, station: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = tls_dir / "ca.crt", tls_dir / "ca.key"
    if cert_path.is_file() and key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{station} CA"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Loa Làng"),
        ]
    )
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _covers(cert_path: Path, names: list[str], addresses: list[str]) -> bool:
    if not cert_path.is_file():
        return False
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.not_valid_after_utc - datetime.now(timezone.utc) < RENEW_BEFORE:
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have_names = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(a) for a in san.get_values_for_type(x509.IPAddress)}
    return set(names) <= have_names and set(addresses) <= have_ips


def _issue(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    station: str,
    names: list[str],
    addresses: list[str],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    san = [x509.DNSName(n) for n in names] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in addresses
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, station[:64]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(key_path, _key_pem(key))
    cert_path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM)
    )
