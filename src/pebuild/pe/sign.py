"""Authenticode signing, so the sample source's boot programs carry real signatures from test CAs.

Writes what `signtool sign /fd sha256` and `sbsign` write (Authenticode_PE.docx;
RFC 2315 SignedData): the file padded to 8 bytes, a WIN_CERTIFICATE (revision
2.0, PKCS_SIGNED_DATA) holding ContentInfo(SignedData(SpcIndirectDataContent
with SpcPeImageData and the image digest)), signed attributes contentType,
SpcSpOpusInfo, SpcStatementType and messageDigest, the PE checksum updated.
No signing time and RSA PKCS#1 v1.5 (deterministic): the same file, key and
certificates give the same bytes, so the sample kit stays reproducible.
`osslsigncode verify` and `sbverify` check the result in tests.

`mode="append"` adds a second WIN_CERTIFICATE entry, `mode="nest"` adds the new
signature as a nested one (1.3.6.1.4.1.311.2.4.1) inside the first, as
`osslsigncode -nest` does; both keep the existing signatures valid.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from pebuild.errors import FormatError, UsageError
from pebuild.pe._layout import pe_checksum, pe_layout
from pebuild.pe.authenticode import OID_SPC_INDIRECT_DATA, OID_SPC_NESTED_SIGNATURE, authenticode_digest

_OIDS = {
    "signed_data": "1.2.840.113549.1.7.2",
    "content_type": "1.2.840.113549.1.9.3",
    "message_digest": "1.2.840.113549.1.9.4",
    "rsa": "1.2.840.113549.1.1.1",
    "sha1": "1.3.14.3.2.26",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "spc_pe_image_data": "1.3.6.1.4.1.311.2.1.15",
    "spc_sp_opus_info": "1.3.6.1.4.1.311.2.1.12",
    "spc_statement_type": "1.3.6.1.4.1.311.2.1.11",
    "spc_individual": "1.3.6.1.4.1.311.2.1.21",
}


@dataclass(frozen=True)
class Signer:
    """A private key (PEM), its certificate and the intermediates to embed (DER, signer first)."""

    key_pem: bytes
    certificates: tuple[bytes, ...]


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _set(*items: bytes) -> bytes:
    return _tlv(0x31, b"".join(sorted(items)))  # DER: SET OF sorted by encoding


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _int(value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return _tlv(0x02, raw)


def _algorithm(name: str) -> bytes:
    return _seq(_oid(_OIDS[name]), b"\x05\x00")


def _indirect_data(digest: bytes, algorithm: str) -> bytes:
    """SpcIndirectDataContent: SpcPeImageData {flags '', file <<<Obsolete>>>} + DigestInfo."""
    obsolete = "<<<Obsolete>>>".encode("utf-16-be")
    pe_image_data = _seq(_tlv(0x03, b"\x00"), _tlv(0xA0, _tlv(0xA2, _tlv(0x80, obsolete))))
    data = _seq(_oid(_OIDS["spc_pe_image_data"]), pe_image_data)
    return _seq(data, _seq(_algorithm(algorithm), _tlv(0x04, digest)))


def _attribute(oid: str, value: bytes) -> bytes:
    return _seq(_oid(_OIDS[oid]), _set(value))


def signed_data(digest: bytes, signer: Signer, algorithm: str = "sha256") -> bytes:
    """DER ContentInfo(SignedData) over an Authenticode image digest."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if algorithm not in ("sha1", "sha256"):
        raise UsageError(f"Authenticode digest must be sha1 or sha256, not {algorithm}")
    key = serialization.load_pem_private_key(signer.key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageError("only RSA signing keys are supported")
    leaf = x509.load_der_x509_certificate(signer.certificates[0])
    content = _indirect_data(digest, algorithm)
    body = content[_header_len(content) :]  # messageDigest covers the value, not the tag and length
    attrs = [
        _attribute("content_type", _oid(OID_SPC_INDIRECT_DATA)),
        _attribute("spc_sp_opus_info", _seq()),
        _attribute("spc_statement_type", _seq(_oid(_OIDS["spc_individual"]))),
        _attribute("message_digest", _tlv(0x04, hashlib.new(algorithm, body).digest())),
    ]
    signed_attrs = _set(*attrs)
    chosen = hashes.SHA256() if algorithm == "sha256" else hashes.SHA1()
    signature = key.sign(signed_attrs, padding.PKCS1v15(), chosen)
    signer_info = _seq(
        _int(1),
        _seq(leaf.issuer.public_bytes(), _int(leaf.serial_number)),
        _algorithm(algorithm),
        b"\xa0" + signed_attrs[1:],  # [0] IMPLICIT SET OF Attribute
        _algorithm("rsa"),
        _tlv(0x04, signature),
    )
    sd = _seq(
        _int(1),
        _set(_algorithm(algorithm)),
        _seq(_oid(OID_SPC_INDIRECT_DATA), _tlv(0xA0, content)),
        _tlv(0xA0, b"".join(signer.certificates)),
        _set(signer_info),
    )
    return _seq(_oid(_OIDS["signed_data"]), _tlv(0xA0, sd))


def _header_len(tlv: bytes) -> int:
    return 1 + (1 if tlv[1] < 0x80 else 1 + (tlv[1] & 0x7F))


def _win_certificate(pkcs7: bytes) -> bytes:
    padded = pkcs7 + b"\0" * (-len(pkcs7) % 8)
    return struct.pack("<IHH", 8 + len(padded), 0x0200, 0x0002) + padded


def sign_pe(data: bytes, signer: Signer, *, algorithm: str = "sha256", mode: str = "replace") -> bytes:
    """`data` signed by `signer`: replace any signature, append a WIN_CERTIFICATE, or nest."""
    if mode not in ("replace", "append", "nest"):
        raise UsageError(f"signing mode must be replace, append or nest, not {mode!r}")
    lay = pe_layout(data)
    if lay.security_entry_offset is None:
        raise FormatError("PE file has no security directory entry to point at a signature")
    offset, size = lay.cert_table
    if size and offset + size != len(data):
        raise FormatError("the certificate table is not at the end of the file; cannot re-sign")
    old_table = data[offset : offset + size] if size else b""
    body = bytearray(data[:offset] if size else data)
    if mode == "replace" or not old_table:
        old_table = b""
        struct.pack_into("<II", body, lay.security_entry_offset, 0, 0)  # the old table is gone
        body += b"\0" * (-len(body) % 8)
    digest = authenticode_digest(bytes(body) + old_table, algorithm, pe_layout(bytes(body) + old_table))
    pkcs7 = signed_data(digest, signer, algorithm)
    nest = mode == "nest" and old_table
    table = _nest(old_table, pkcs7) if nest else old_table + _win_certificate(pkcs7)
    out = bytearray(bytes(body) + table)
    struct.pack_into("<II", out, lay.security_entry_offset, len(body), len(table))
    struct.pack_into("<I", out, lay.checksum_offset, pe_checksum(bytes(out), lay.checksum_offset))
    return bytes(out)


def _nest(table: bytes, pkcs7: bytes) -> bytes:
    """Add `pkcs7` to the first signature's unsigned attributes (SpcNestedSignature).

    Rebuilt from the original encodings of every other field, byte for byte, so the
    existing signature and its certificates stay exactly as they were.
    """
    from asn1crypto import cms

    length = struct.unpack_from("<I", table, 0)[0]
    info: Any = cms.ContentInfo.load(table[8:length])
    sd = info["content"]
    si = sd["signer_infos"][0]
    values = [pkcs7]
    others = []
    for attr in si["unsigned_attrs"] or []:
        if attr["type"].dotted == OID_SPC_NESTED_SIGNATURE:
            values = [v.dump() for v in attr["values"]] + values
        else:
            others.append(attr.dump())
    nested = _seq(_oid(OID_SPC_NESTED_SIGNATURE), _tlv(0x31, b"".join(values)))
    unsigned = b"\xa1" + _set(*others, nested)[1:]  # [1] IMPLICIT SET OF Attribute
    si_fields = [si[k].dump() for k in ("version", "sid", "digest_algorithm")]
    if si["signed_attrs"]:
        si_fields.append(si["signed_attrs"].dump())
    si_fields += [si[k].dump() for k in ("signature_algorithm", "signature")]
    new_si = _seq(*si_fields, unsigned)
    sd_fields = [sd[k].dump() for k in ("version", "digest_algorithms", "encap_content_info")]
    for optional in ("certificates", "crls"):
        if sd[optional]:
            sd_fields.append(sd[optional].dump())
    others_si = [x.dump() for x in list(sd["signer_infos"])[1:]]
    new_sd = _seq(*sd_fields, _tlv(0x31, new_si + b"".join(others_si)))
    first = _win_certificate(_seq(_oid(_OIDS["signed_data"]), _tlv(0xA0, new_sd)))
    return first + table[(length + 7) & ~7 :]
