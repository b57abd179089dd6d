"""The sample source's TEST signing keys: public on purpose, trusted by nothing real.

Like Debian's OVMF "snakeoil" keys: they let the sample kit carry real
Authenticode signatures (a 2011-style and a 2023-style boot manager set) so
the Secure Boot verdicts, `pebuild check` and `update-media` are tested end to
end without Microsoft's binaries. Anyone can sign with these keys; pebuild
treats them as stand-ins for Microsoft's CAs only when asked (`--test-keys`,
or for media built from the sample source). README.txt says the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class TestCert:
    name: str  # file stem
    common_name: str
    issuer: str  # file stem of the issuer ("" = self-signed root)
    ca: bool
    not_before: str
    not_after: str
    stands_for: str  # the Microsoft certificate it plays, by pebuild.secureboot CA id


#: issuer before subject; dates copy the real certificates' (docs/secureboot.md)
PKI: tuple[TestCert, ...] = (
    TestCert(
        "root-2010",
        "pebuild TEST Root Certificate Authority 2010",
        "",
        True,
        "2010-06-23T21:57:24",
        "2035-06-23T22:04:01",
        "",
    ),
    TestCert(
        "pca-2011",
        "pebuild TEST Windows Production PCA 2011",
        "root-2010",
        True,
        "2011-10-19T18:41:42",
        "2026-10-19T18:51:42",
        "windows-pca-2011",
    ),
    TestCert(
        "windows-uefi-ca-2023",
        "pebuild TEST Windows UEFI CA 2023",
        "root-2010",
        True,
        "2023-06-13T18:58:29",
        "2035-06-13T19:08:29",
        "windows-uefi-ca-2023",
    ),
    TestCert(
        "windows-2011-signer",
        "pebuild TEST Windows (boot manager 2011)",
        "pca-2011",
        False,
        "2023-10-19T00:00:00",
        "2026-07-19T00:00:00",
        "",
    ),
    TestCert(
        "windows-2023-signer",
        "pebuild TEST Windows UEFI (boot manager 2023)",
        "windows-uefi-ca-2023",
        False,
        "2024-01-01T00:00:00",
        "2034-01-01T00:00:00",
        "",
    ),
)
BY_NAME = {c.name: c for c in PKI}


def certificate(name: str) -> bytes:
    """DER certificate of one test key."""
    return resources.files(__name__).joinpath(f"{name}.der").read_bytes()


def private_key(name: str) -> bytes:
    return resources.files(__name__).joinpath(f"{name}.key.pem").read_bytes()


def signer_chain(leaf: str) -> tuple[bytes, ...]:
    """Leaf first, then its issuers below the root (what signtool embeds)."""
    chain = [certificate(leaf)]
    issuer = BY_NAME[leaf].issuer
    while issuer and BY_NAME[issuer].issuer:
        chain.append(certificate(issuer))
        issuer = BY_NAME[issuer].issuer
    return tuple(chain)


def anchors() -> dict[str, bytes]:
    """Microsoft CA id -> the test certificate standing in for it."""
    return {c.stands_for: certificate(c.name) for c in PKI if c.stands_for}
