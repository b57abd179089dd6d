"""Authenticode: the embedded signatures of a PE file, their signers and whether the digest matches.

What UEFI firmware checks before it starts a boot program (EDK2
DxeImageVerificationLib, UEFI 2.10 §32.5): the PE image hash (checksum,
security directory entry and certificate table left out; sections in file
order; Authenticode_PE.docx "Calculating the PE Image Hash"), compared with
the digest in each WIN_CERTIFICATE's PKCS#7 SignedData (content type
SpcIndirectDataContent 1.3.6.1.4.1.311.2.1.4), and the signer chain up to a
certificate in db (or in dbx). A file may carry several WIN_CERTIFICATE
entries and, inside a SignedData, nested signatures (unsigned attribute
1.3.6.1.4.1.311.2.4.1, as `signtool /as` and `osslsigncode -nest` write them).

Parsing uses asn1crypto, signature checks use cryptography: signify (the
usual Python verifier) cannot load on Debian 12, its oscrypto cannot detect
OpenSSL 3.0.x ("Error detecting the version of libcrypto"). Certificate
validity dates are reported but never enforced: firmware ignores them, and the
2011 Microsoft CAs expired in 2026 while their signatures still boot.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from pebuild.errors import FormatError
from pebuild.pe._layout import PeLayout, pe_layout

WIN_CERT_REVISION_2_0 = 0x0200
WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
OID_SPC_NESTED_SIGNATURE = "1.3.6.1.4.1.311.2.4.1"
DIGESTS = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "md5": 16}


def authenticode_digest(data: bytes, algorithm: str = "sha256", layout: PeLayout | None = None) -> bytes:
    """The Authenticode PE image hash (what dbx lists as EFI_CERT_SHA256 and what signers sign).

    Headers without CheckSum and the security directory entry, then every
    section's raw data in PointerToRawData order, then whatever follows except
    the certificate table (EDK2 HashPeImage; the spec's steps 1-14).
    """
    lay = layout or pe_layout(data)
    h = hashlib.new(algorithm)
    h.update(data[: lay.checksum_offset])
    if lay.security_entry_offset is None:
        h.update(data[lay.checksum_offset + 4 : lay.size_of_headers])
    else:
        h.update(data[lay.checksum_offset + 4 : lay.security_entry_offset])
        h.update(data[lay.security_entry_offset + 8 : lay.size_of_headers])
    hashed = lay.size_of_headers
    for pointer, size in sorted(s for s in lay.sections if s[1]):
        h.update(data[pointer : pointer + size])
        hashed += size
    cert_size = lay.cert_table[1]
    if len(data) > hashed + cert_size:
        h.update(data[hashed : len(data) - cert_size])
    return h.digest()


@dataclass(frozen=True)
class CertInfo:
    """One X.509 certificate as the verdicts need it (DER kept for chain checks, not in JSON)."""

    subject: str
    issuer: str
    common_name: str
    serial: str
    sha1: str
    sha256: str
    not_before: str
    not_after: str
    der: bytes = field(repr=False)

    @classmethod
    def from_der(cls, der: bytes) -> CertInfo:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        cert = x509.load_der_x509_certificate(der)
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            common_name=str(cns[0].value) if cns else cert.subject.rfc4514_string(),
            serial=f"{cert.serial_number:X}",
            sha1=hashlib.sha1(der).hexdigest(),
            sha256=hashlib.sha256(der).hexdigest(),
            not_before=cert.not_valid_before_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            not_after=cert.not_valid_after_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            der=der,
        )

    def to_json(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "sha1": self.sha1,
            "not_before": self.not_before,
            "not_after": self.not_after,
        }


def issued_by(child: CertInfo, parent: CertInfo) -> bool:
    """`parent` signed `child` (names match and the signature verifies; dates are ignored)."""
    from cryptography import x509

    if child.issuer != parent.subject:
        return False
    try:
        x509.load_der_x509_certificate(child.der).verify_directly_issued_by(
            x509.load_der_x509_certificate(parent.der)
        )
    except Exception:  # InvalidSignature, unsupported key type, ...
        return False
    return True


def same_certificate(a: CertInfo, b: CertInfo) -> bool:
    return a.der == b.der


@dataclass(frozen=True)
class Signature:
    """One SignedData: entry = WIN_CERTIFICATE index, path = '1', '1.1' for the first nested one, ..."""

    entry: int
    path: str
    digest_algorithm: str
    signed_digest: str
    digest_ok: bool  # the file's Authenticode digest equals the signed one
    signature_ok: bool  # messageDigest attribute matches and the signer's signature verifies
    signer: CertInfo | None
    chain: tuple[CertInfo, ...]  # signer first, then each issuer found among the embedded certificates
    certificates: tuple[CertInfo, ...]
    problem: str | None = None

    @property
    def valid(self) -> bool:
        return self.digest_ok and self.signature_ok and self.signer is not None

    def chains_to(self, anchor: CertInfo) -> bool:
        """The signer chain reaches `anchor`: it is in the chain, or it issued the chain's top.

        This is the partial-chain rule EDK2 applies with a db (or dbx) certificate as the
        trust anchor (Pkcs7Verify with X509_V_FLAG_PARTIAL_CHAIN).
        """
        if not self.chain:
            return False
        if any(same_certificate(c, anchor) for c in self.chain):
            return True
        return any(issued_by(c, anchor) for c in self.chain)

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "path": self.path,
            "digest_algorithm": self.digest_algorithm,
            "signed_digest": self.signed_digest,
            "digest_ok": self.digest_ok,
            "signature_ok": self.signature_ok,
            "signer": None if self.signer is None else self.signer.to_json(),
            "chain": [c.common_name for c in self.chain],
            "problem": self.problem,
        }


@dataclass(frozen=True)
class Authenticode:
    """Everything Secure Boot needs from one PE file."""

    sha256: str  # Authenticode SHA-256, upper-case hex as dbx_info_msft_latest.json writes it
    flat_sha256: str  # sha256 of the whole file (the JSON's flatHash)
    cert_table: tuple[int, int]
    signatures: tuple[Signature, ...]
    entries: int  # WIN_CERTIFICATE entries read

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    def to_json(self) -> dict[str, Any]:
        return {
            "authenticode_sha256": self.sha256,
            "sha256": self.flat_sha256,
            "certificate_entries": self.entries,
            "signatures": [s.to_json() for s in self.signatures],
        }


def read_authenticode(data: bytes | Path, *, name: str | None = None) -> Authenticode:
    """Parse every signature of a PE file and check each digest; FormatError when it is not a PE."""
    label = name or (str(data) if isinstance(data, Path) else "<bytes>")
    raw = data.read_bytes() if isinstance(data, Path) else bytes(data)
    lay = pe_layout(raw, name=label)
    digests: dict[str, bytes] = {}

    def digest(algorithm: str) -> bytes:
        if algorithm not in digests:
            digests[algorithm] = authenticode_digest(raw, algorithm, lay)
        return digests[algorithm]

    signatures: list[Signature] = []
    entries = 0
    for index, blob in enumerate(_win_certificates(raw, lay, label)):
        entries += 1
        signatures += _signed_data(blob, index, str(index + 1), digest)
    return Authenticode(
        sha256=digest("sha256").hex().upper(),
        flat_sha256=hashlib.sha256(raw).hexdigest().upper(),
        cert_table=lay.cert_table,
        signatures=tuple(signatures),
        entries=entries,
    )


def _win_certificates(raw: bytes, lay: PeLayout, label: str) -> list[bytes]:
    """PKCS#7 blobs of the attribute certificate table; each entry starts on an 8-byte boundary."""
    offset, size = lay.cert_table
    out: list[bytes] = []
    pos, end = offset, offset + size
    while size and pos + 8 <= end:
        length, revision, cert_type = struct.unpack_from("<IHH", raw, pos)
        if length < 8 or pos + length > end:
            raise FormatError(f"WIN_CERTIFICATE at offset {pos} has a bad length {length}", path=label)
        if revision == WIN_CERT_REVISION_2_0 and cert_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            out.append(raw[pos + 8 : pos + length])
        pos += (length + 7) & ~7
    return out


def _signed_data(blob: bytes, entry: int, path: str, digest: Any) -> list[Signature]:
    """This SignedData and the ones nested in its signer's unsigned attributes."""
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(blob)
        if info["content_type"].native != "signed_data":
            return [_broken(entry, path, f"content type {info['content_type'].dotted}, not SignedData")]
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].dotted != OID_SPC_INDIRECT_DATA:
            return [
                _broken(entry, path, f"content {encap['content_type'].dotted} is not SpcIndirectDataContent")
            ]
        indirect = _SpcIndirectDataContent.load(_unwrap_explicit(encap["content"].dump()))
        algorithm = indirect["message_digest"]["digest_algorithm"]["algorithm"].native
        signed_digest = bytes(indirect["message_digest"]["digest"].native)
        certs = tuple(
            CertInfo.from_der(c.chosen.dump())
            for c in signed["certificates"] or []
            if c.name == "certificate"
        )
        signer_infos = list(signed["signer_infos"])
    except (ValueError, TypeError, KeyError) as exc:
        return [_broken(entry, path, f"unreadable PKCS#7 signature: {exc}")]
    if len(signer_infos) != 1:
        return [_broken(entry, path, f"{len(signer_infos)} signer infos (Authenticode allows exactly one)")]
    si = signer_infos[0]
    signer = _find_signer(si, certs)
    digest_ok = algorithm in DIGESTS and digest(algorithm) == signed_digest
    sig_ok, problem = _check_signer_info(si, signer, indirect.contents)
    if not digest_ok:
        problem = problem or "the file's Authenticode digest differs from the signed one (file modified)"
    out = [
        Signature(
            entry=entry,
            path=path,
            digest_algorithm=algorithm,
            signed_digest=signed_digest.hex().upper(),
            digest_ok=digest_ok,
            signature_ok=sig_ok,
            signer=signer,
            chain=_chain(signer, certs),
            certificates=certs,
            problem=problem,
        )
    ]
    nested = 0
    for attr in si["unsigned_attrs"] or []:
        if attr["type"].dotted == OID_SPC_NESTED_SIGNATURE:
            for value in attr["values"]:
                nested += 1
                out += _signed_data(value.dump(), entry, f"{path}.{nested}", digest)
    return out


def _unwrap_explicit(data: bytes) -> bytes:
    """The SEQUENCE inside the `[0] EXPLICIT` wrapper asn1crypto leaves on an unknown content type."""
    from asn1crypto import parser

    if data[:1] == b"\xa0":
        return bytes(parser.parse(data)[4])
    return data


def _broken(entry: int, path: str, problem: str) -> Signature:
    return Signature(entry, path, "unknown", "", False, False, None, (), (), problem)


def _find_signer(si: Any, certs: tuple[CertInfo, ...]) -> CertInfo | None:
    from cryptography import x509

    sid = si["sid"]
    if sid.name != "issuer_and_serial_number":
        key_id = bytes(sid.chosen.native)
        for c in certs:
            cert = x509.load_der_x509_certificate(c.der)
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except x509.ExtensionNotFound:
                continue
            if ski == key_id:
                return c
        return None
    serial = f"{sid.chosen['serial_number'].native:X}"
    issuer_der = sid.chosen["issuer"].dump()
    for c in certs:
        cert = x509.load_der_x509_certificate(c.der)
        if c.serial == serial and cert.issuer.public_bytes() == issuer_der:
            return c
    return None


def _check_signer_info(si: Any, signer: CertInfo | None, content: bytes) -> tuple[bool, str | None]:
    """messageDigest == H(SpcIndirectDataContent value) and the signature over the attributes verifies."""
    if signer is None:
        return False, "the signer's certificate is not in the signature"
    attrs = si["signed_attrs"]
    if not attrs:
        return False, "no authenticated attributes (Authenticode requires them)"
    hash_name = si["digest_algorithm"]["algorithm"].native
    if hash_name not in DIGESTS:
        return False, f"unsupported digest algorithm {hash_name}"
    wanted = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
    if wanted != hashlib.new(hash_name, content).digest():
        return False, "messageDigest attribute does not match the signed content"
    signed_bytes = b"\x31" + attrs.dump()[1:]  # [0] IMPLICIT -> SET OF, as RFC 5652 §5.4 says to hash it
    return _verify(signer, bytes(si["signature"].native), signed_bytes, hash_name)


def _verify(signer: CertInfo, signature: bytes, data: bytes, hash_name: str) -> tuple[bool, str | None]:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algorithm = {
        "sha1": hashes.SHA1,
        "sha256": hashes.SHA256,
        "sha384": hashes.SHA384,
        "sha512": hashes.SHA512,
    }
    if hash_name not in algorithm:
        return False, f"unsupported signature hash {hash_name}"
    key = x509.load_der_x509_certificate(signer.der).public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm[hash_name]())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm[hash_name]()))
        else:
            return False, f"unsupported signer key type {type(key).__name__}"
    except InvalidSignature:
        return False, "the signer's signature does not verify"
    return True, None


def _chain(signer: CertInfo | None, certs: tuple[CertInfo, ...]) -> tuple[CertInfo, ...]:
    """Signer, its issuer, ... as far as the embedded certificates go (stops at a self-signed one)."""
    if signer is None:
        return ()
    chain = [signer]
    while len(chain) <= len(certs):
        top = chain[-1]
        if top.issuer == top.subject:
            break
        parent = next((c for c in certs if c not in chain and issued_by(top, c)), None)
        if parent is None:
            break
        chain.append(parent)
    return tuple(chain)


def _asn1_classes() -> tuple[type, type]:
    from asn1crypto import algos, core

    class DigestInfo(core.Sequence):  # type: ignore[misc]
        _fields = [("digest_algorithm", algos.DigestAlgorithm), ("digest", core.OctetString)]

    class SpcAttributeTypeAndOptionalValue(core.Sequence):  # type: ignore[misc]
        _fields = [("type", core.ObjectIdentifier), ("value", core.Any, {"optional": True})]

    class SpcIndirectDataContent(core.Sequence):  # type: ignore[misc]
        _fields = [("data", SpcAttributeTypeAndOptionalValue), ("message_digest", DigestInfo)]

    return SpcIndirectDataContent, DigestInfo


class _Lazy:
    """asn1crypto classes built on first use (importing pebuild.pe stays cheap)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.cls: Any = None

    def load(self, data: bytes) -> Any:
        if self.cls is None:
            self.cls = _asn1_classes()[self.index]
        return self.cls.load(data)


_SpcIndirectDataContent = _Lazy(0)
