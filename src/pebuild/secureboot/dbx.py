"""The forbidden-signature database (dbx): revoked image hashes, revoked certificates, SVN minimums.

Default data: Microsoft's dbx_info_msft_latest.json (package data, PROVENANCE.txt;
structure in shared/fixtures/secureboot/README.md). `load_dbx(FILE)` takes a
newer JSON of the same shape (it replaces the packaged one) or binary dbx
content that is *added*, as SetVariable(dbx, APPEND_WRITE) adds it: an
authenticated update (DBXUpdate*.bin: EFI_VARIABLE_AUTHENTICATION_2, then
EFI_SIGNATURE_LISTs), an efivarfs dump (4-byte attributes, then lists) or bare
EFI_SIGNATURE_LISTs (UEFI 2.10 §32.4.1). SVN entries are EFI_CERT_SHA256 items
owned by 9d132b6c-59d5-4388-ab1c-185cfcb2eb92: byte 0 version, bytes 1-16 the
application GUID, then u16 minor, u16 major (microsoft/secureboot_objects
scripts/utility_functions.py SvnData).
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pebuild.errors import FormatError

EFI_CERT_SHA256 = uuid.UUID("c1c41626-504c-4092-aca9-41f936934328")
EFI_CERT_X509 = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
SVN_OWNER = uuid.UUID("9d132b6c-59d5-4388-ab1c-185cfcb2eb92")
WIN_CERT_TYPE_EFI_GUID = 0x0EF1
#: SVN application GUID -> the boot program it guards (EFI_*_DBXSVN_GUID)
SVN_APPS = {
    uuid.UUID("9d132b61-59d5-4388-ab1c-185c3cb2eb92"): "bootmgfw",
    uuid.UUID("e8f82e9d-e127-4158-a488-4c18abe2f284"): "cdboot",
    uuid.UUID("c999cac2-7ffe-496f-8127-9e2a8a535976"): "wdsmgfw",
}


@dataclass(frozen=True)
class RevokedImage:
    sha256: str  # Authenticode SHA-256, upper-case hex
    filename: str
    description: str
    added: str


@dataclass(frozen=True)
class Dbx:
    images: dict[str, RevokedImage] = field(default_factory=dict)
    revoked_sha1: dict[str, str] = field(default_factory=dict)  # certificate SHA-1 -> subject
    revoked_der: tuple[bytes, ...] = ()  # X.509 entries found in binary dbx content
    svn: dict[str, tuple[int, int]] = field(default_factory=dict)  # bootmgfw -> (9, 0)
    sources: tuple[str, ...] = ()

    def svn_minimum(self, component: str) -> tuple[int, int] | None:
        return self.svn.get(component)

    def describe(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "revoked_images": len(self.images),
            "revoked_certificates": sorted(self.revoked_sha1.values()),
            "svn": {k: f"{v[0]}.{v[1]}" for k, v in sorted(self.svn.items())},
        }


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def parse_dbx_json(data: bytes, source: str) -> Dbx:
    """The dbx_info_msft_*.json structure: images{arch: [...]}, certificates[], svns[]."""
    try:
        doc = json.loads(data)
        images = {}
        for entries in doc.get("images", {}).values():
            for e in entries:
                h = str(e["authenticodeHash"]).upper()
                images[h] = RevokedImage(
                    h, e.get("filename", ""), e.get("description", ""), e.get("dateOfAddition", "")
                )
        certs = {
            str(c["thumbprint"]).lower(): str(c.get("subjectName", "")) for c in doc.get("certificates", [])
        }
        svn = {}
        for s in doc.get("svns", []):
            app, version = _svn_value(bytes.fromhex(s["value"]))
            svn[SVN_APPS.get(app, str(s.get("filename", app)).removesuffix(".efi"))] = version
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FormatError(f"not a dbx_info JSON file: {exc}", path=source) from None
    return Dbx(images, certs, (), svn, (source,))


def _svn_value(raw: bytes) -> tuple[uuid.UUID, tuple[int, int]]:
    if len(raw) < 21 or raw[0] != 1:
        raise ValueError("SVN entry must be 32 bytes starting with version 1")
    minor, major = struct.unpack_from("<HH", raw, 17)
    return uuid.UUID(bytes_le=bytes(raw[1:17])), (major, minor)


def signature_lists(data: bytes, source: str) -> list[tuple[uuid.UUID, uuid.UUID, bytes]]:
    """(type, owner, data) of every EFI_SIGNATURE_DATA in an update, efivarfs dump or bare lists."""
    for start in _candidate_starts(data):
        try:
            return _parse_lists(data, start)
        except ValueError:
            continue
    raise FormatError(
        "no EFI_SIGNATURE_LIST found (not a dbx update, dbx dump or dbx_info JSON)", path=source
    )


def _candidate_starts(data: bytes) -> list[int]:
    starts = []
    if len(data) >= 24 and struct.unpack_from("<H", data, 22)[0] == WIN_CERT_TYPE_EFI_GUID:
        starts.append(16 + struct.unpack_from("<I", data, 16)[0])  # EFI_TIME + WIN_CERTIFICATE_UEFI_GUID
    return [*starts, 0, 4]


def _parse_lists(data: bytes, pos: int) -> list[tuple[uuid.UUID, uuid.UUID, bytes]]:
    out = []
    if pos >= len(data):
        raise ValueError("empty")
    while pos < len(data):
        if pos + 28 > len(data):
            raise ValueError("truncated list header")
        kind = uuid.UUID(bytes_le=data[pos : pos + 16])
        list_size, header_size, sig_size = struct.unpack_from("<III", data, pos + 16)
        if kind not in (EFI_CERT_SHA256, EFI_CERT_X509) or sig_size < 16 or list_size < 28 + header_size:
            raise ValueError("not a signature list")
        if pos + list_size > len(data) or (list_size - 28 - header_size) % sig_size:
            raise ValueError("bad list size")
        item = pos + 28 + header_size
        while item < pos + list_size:
            owner = uuid.UUID(bytes_le=data[item : item + 16])
            out.append((kind, owner, data[item + 16 : item + sig_size]))
            item += sig_size
        pos += list_size
    return out


def add_binary(dbx: Dbx, data: bytes, source: str) -> Dbx:
    """`dbx` plus the hashes, certificates and SVN entries of binary dbx content."""
    import hashlib

    images = dict(dbx.images)
    revoked = dict(dbx.revoked_sha1)
    ders = list(dbx.revoked_der)
    svn = dict(dbx.svn)
    for kind, owner, value in signature_lists(data, source):
        if kind == EFI_CERT_X509:
            revoked[hashlib.sha1(value).hexdigest()] = _subject(value)
            ders.append(value)
        elif owner == SVN_OWNER:
            try:
                app, version = _svn_value(value)
            except ValueError:
                continue
            name = SVN_APPS.get(app, str(app))
            svn[name] = max(version, svn.get(name, (0, 0)))
        else:
            h = value.hex().upper()
            images.setdefault(h, RevokedImage(h, "", f"from {Path(source).name}", ""))
    return replace(
        dbx,
        images=images,
        revoked_sha1=revoked,
        revoked_der=tuple(ders),
        svn=svn,
        sources=(*dbx.sources, source),
    )


def _subject(der: bytes) -> str:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "(unreadable certificate)"


@cache
def default_dbx() -> Dbx:
    data = (
        resources.files("pebuild.secureboot")
        .joinpath("data")
        .joinpath("dbx_info_msft_latest.json")
        .read_bytes()
    )
    return parse_dbx_json(data, "pebuild:dbx_info_msft_latest.json")


def load_dbx(path: Path | None = None) -> Dbx:
    """Packaged data, replaced by a newer JSON or extended by binary dbx content at `path`."""
    if path is None:
        return default_dbx()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read the dbx file: {exc.strerror or exc}", path=path) from None
    if data.lstrip()[:1] == b"{":
        return parse_dbx_json(data, str(path))
    return add_binary(default_dbx(), data, str(path))
