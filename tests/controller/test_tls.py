"""The station's own certificate covers what agents and browsers will check it against."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from controller.tls import ensure_certificate


def _san(path: Path) -> x509.SubjectAlternativeName:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_an_address_given_as_a_public_name_is_an_ip_entry(tmp_path: Path):
    # an agent connecting to 10.20.30.40 checks an IP entry; a DNS entry "10.20.30.40" fails
    files = ensure_certificate(tmp_path, "Đài xã", ["10.20.30.40", "dai-xa.example.vn"])
    san = _san(files.cert)
    assert ipaddress.ip_address("10.20.30.40") in san.get_values_for_type(x509.IPAddress)
    assert "10.20.30.40" not in san.get_values_for_type(x509.DNSName)
    assert "dai-xa.example.vn" in san.get_values_for_type(x509.DNSName)
    # asked again with the same names: the same certificate, not a new one
    before = files.cert.read_bytes()
    assert ensure_certificate(tmp_path, "Đài xã", ["10.20.30.40"]).cert.read_bytes() == before
