"""Regenerate the sample's TEST PKI (run by hand: `python -m pebuild.sample.testkeys._generate DIR`).

Never run by the build or the tests: the committed keys and certificates are fixed so
the sample kit is byte-identical from run to run (RSA PKCS#1 v1.5 signatures are
deterministic). The hierarchy mirrors Microsoft's (docs/secureboot.md): one root
issues a "PCA 2011" and a "Windows UEFI CA 2023"; each issues one code-signing leaf.
Validity dates copy the real ones, so the 2011 branch is expired like Microsoft's.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from pebuild.sample.testkeys import PKI


def main(dest: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    dest.mkdir(parents=True, exist_ok=True)
    keys: dict[str, rsa.RSAPrivateKey] = {}
    certs: dict[str, x509.Certificate] = {}
    for serial, entry in enumerate(PKI, start=0x5EB0_0001):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pebuild TEST keys - not Microsoft"),
                x509.NameAttribute(NameOID.COMMON_NAME, entry.common_name),
            ]
        )
        issuer_key = keys.get(entry.issuer, key)
        issuer_name = certs[entry.issuer].subject if entry.issuer in certs else name
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(datetime.fromisoformat(entry.not_before).replace(tzinfo=UTC))
            .not_valid_after(datetime.fromisoformat(entry.not_after).replace(tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=entry.ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        )
        if not entry.ca:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
        cert = builder.sign(issuer_key, hashes.SHA256())
        keys[entry.name], certs[entry.name] = key, cert
        (dest / f"{entry.name}.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
        (dest / f"{entry.name}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
