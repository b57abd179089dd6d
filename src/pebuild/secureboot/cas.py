"""The certificate authorities a UEFI db trusts, and which one signed a boot program.

Identification follows Rufus (src/hash.c IsSignedBySecureBootAuthority) and
EDK2: walk the signer chain embedded in the PKCS#7 and ask whether it reaches
a db certificate (in the chain, or its issuer; dates ignored). The real
Microsoft certificates (package data, docs/secureboot.md §1) are the anchors
for real media. The sample source's TEST CAs (pebuild.sample.testkeys) play
the same roles only in a store made with `test_keys=True`: their private keys
are public, so nothing real may trust them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from pebuild.pe.authenticode import CertInfo, Signature


@dataclass(frozen=True)
class KnownCa:
    id: str
    name: str  # the certificate's common name
    kind: str  # windows | third-party | option-rom
    label: str  # short text for tables
    file: str  # package data file


#: db certificates, in the order they are tried (docs/secureboot.md §1 table)
KNOWN_CAS: tuple[KnownCa, ...] = (
    KnownCa(
        "windows-pca-2011",
        "Microsoft Windows Production PCA 2011",
        "windows",
        "PCA 2011",
        "windows-pca-2011.der",
    ),
    KnownCa(
        "windows-uefi-ca-2023",
        "Windows UEFI CA 2023",
        "windows",
        "Windows UEFI CA 2023",
        "windows-uefi-ca-2023.der",
    ),
    KnownCa(
        "uefi-ca-2011",
        "Microsoft Corporation UEFI CA 2011",
        "third-party",
        "UEFI CA 2011 (3rd party)",
        "uefi-ca-2011.der",
    ),
    KnownCa(
        "uefi-ca-2023",
        "Microsoft UEFI CA 2023",
        "third-party",
        "UEFI CA 2023 (3rd party)",
        "uefi-ca-2023.der",
    ),
    KnownCa(
        "option-rom-uefi-ca-2023",
        "Microsoft Option ROM UEFI CA 2023",
        "option-rom",
        "Option ROM UEFI CA 2023",
        "option-rom-uefi-ca-2023.der",
    ),
)
CA_BY_ID = {ca.id: ca for ca in KNOWN_CAS}
UNSIGNED = "unsigned"
UNKNOWN = "unknown"


@cache
def microsoft_certificate(ca_id: str) -> CertInfo:
    """The real Microsoft certificate for a CA id, from package data."""
    ca = CA_BY_ID[ca_id]
    return CertInfo.from_der(
        resources.files("pebuild.secureboot").joinpath("data").joinpath(ca.file).read_bytes()
    )


@dataclass(frozen=True)
class Anchor:
    ca: KnownCa
    cert: CertInfo
    test: bool  # a pebuild TEST stand-in, not Microsoft's certificate


@dataclass(frozen=True)
class Identified:
    ca_id: str  # a KnownCa id, UNKNOWN or UNSIGNED
    test_keys: bool = False
    note: str | None = None

    @property
    def label(self) -> str:
        if self.ca_id in CA_BY_ID:
            text = CA_BY_ID[self.ca_id].label
            return f"{text} [TEST keys]" if self.test_keys else text
        return self.ca_id


@cache
def trust_anchors(test_keys: bool = False) -> tuple[Anchor, ...]:
    """Microsoft's db CAs, plus the sample's TEST stand-ins when `test_keys`."""
    anchors = [Anchor(ca, microsoft_certificate(ca.id), False) for ca in KNOWN_CAS]
    if test_keys:
        from pebuild.sample.testkeys import anchors as test_anchors

        for ca_id, der in sorted(test_anchors().items()):
            anchors.append(Anchor(CA_BY_ID[ca_id], CertInfo.from_der(der), True))
    return tuple(anchors)


def _test_issuer(sig: Signature) -> bool:
    return any("pebuild TEST" in c.subject for c in sig.chain)


def identify(sig: Signature, test_keys: bool = False) -> Identified:
    """Which db CA a signature chains to (whether or not its digest matches)."""
    for anchor in trust_anchors(test_keys):
        if sig.chains_to(anchor.cert):
            return Identified(anchor.ca.id, anchor.test)
    if _test_issuer(sig):
        return Identified(
            UNKNOWN, False, "signed with pebuild's public TEST keys (trusted only with --test-keys)"
        )
    top = sig.chain[-1].issuer if sig.chain else "no signer certificate"
    return Identified(UNKNOWN, False, f"chain ends at {top}")
