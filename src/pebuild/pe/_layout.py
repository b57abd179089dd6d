"""Where the Authenticode-relevant fields of a PE file sit: checksum, security directory, sections.

Offsets from the Microsoft PE Format spec ("Optional Header Windows-Specific
Fields", "Optional Header Data Directories", "The Attribute Certificate Table")
and the Authenticode PE spec (Authenticode_PE.docx, "Calculating the PE Image
Hash"). Parsed by hand, not with pefile, so the digest code is small and reads
exactly the bytes the spec names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pebuild.errors import FormatError

#: IMAGE_DIRECTORY_ENTRY_SECURITY: the 5th data directory; its VirtualAddress is a *file offset*
SECURITY_INDEX = 4


@dataclass(frozen=True)
class PeLayout:
    checksum_offset: int  # OptionalHeader.CheckSum (+64 in PE32 and PE32+)
    security_entry_offset: int | None  # the 8-byte DataDirectory[4] entry; None when it does not exist
    size_of_headers: int
    sections: tuple[tuple[int, int], ...]  # (PointerToRawData, SizeOfRawData), file order as listed
    cert_table: tuple[int, int]  # (file offset, size); (0, 0) when unsigned
    pe32_plus: bool


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])


def pe_layout(data: bytes, *, name: str = "<bytes>") -> PeLayout:
    """The offsets the Authenticode digest skips; FormatError for a truncated or non-PE file."""
    try:
        if data[:2] != b"MZ":
            raise FormatError("not a PE file (no MZ signature)", path=name)
        lfanew = _u32(data, 0x3C)
        if data[lfanew : lfanew + 4] != b"PE\0\0":
            raise FormatError("not a PE file (no PE signature)", path=name)
        coff = lfanew + 4
        sections_count = _u16(data, coff + 2)
        opt_size = _u16(data, coff + 16)
        opt = coff + 20
        magic = _u16(data, opt)
        if magic not in (0x10B, 0x20B):
            raise FormatError(f"unknown optional header magic 0x{magic:x}", path=name)
        plus = magic == 0x20B
        dirs = opt + (112 if plus else 96)
        count = _u32(data, dirs - 4)
        size_of_headers = _u32(data, opt + 60)
        security = dirs + 8 * SECURITY_INDEX if count > SECURITY_INDEX else None
        cert = (0, 0)
        if security is not None:
            cert = (_u32(data, security), _u32(data, security + 4))
        table = opt + opt_size
        sections = []
        for i in range(sections_count):
            entry = table + 40 * i
            sections.append((_u32(data, entry + 20), _u32(data, entry + 16)))
    except struct.error:
        raise FormatError("truncated PE header", path=name) from None
    if table + 40 * sections_count > len(data) or size_of_headers > len(data):
        raise FormatError("truncated PE header", path=name)
    offset, size = cert
    if size and (offset < size_of_headers or offset + size > len(data)):
        raise FormatError(
            f"certificate table at {offset}+{size} lies outside the file ({len(data)} bytes)", path=name
        )
    return PeLayout(opt + 64, security, size_of_headers, tuple(sections), cert, plus)


def pe_checksum(data: bytes, checksum_offset: int) -> int:
    """OptionalHeader.CheckSum as imagehlp's CheckSumMappedFile computes it (the field counts as 0).

    It covers the certificate table too, so it changes whenever a signature is added.
    """
    padded = data + b"\0" * (len(data) % 2)
    total = sum(w for (w,) in struct.iter_unpack("<H", padded))
    total -= _u16(padded, checksum_offset) + _u16(padded, checksum_offset + 2)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF
