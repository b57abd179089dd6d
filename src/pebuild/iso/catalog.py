"""Read-only El Torito: the boot record volume descriptor and every boot catalog entry.

`pebuild smoke` reads the catalog to know what an ISO boots (x86 BIOS, EFI) and
`pebuild check` to find the EFI images it must look into; neither needs pycdlib's
whole ISO model for that, and both must survive damaged media.

Sources: "El Torito" Bootable CD-ROM Format Specification 1.0 §2 (formats.md 4.2, E1):
the boot record at sector 17 (type 0, `CD001`, `EL TORITO SPECIFICATION`, catalog
LBA at 0x47); the catalog's validation entry (header ID 1, platform, checksum: all
sixteen words sum to 0 mod 2^16, key 55 AA), the initial/default entry, then
section headers (0x90 more follow, 0x91 final; platform, entry count) each followed
by its section entries (0x88 bootable, 0x00 not) and their extension records
(0x44). The catalog may span several sectors: its end is found by parsing it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pebuild.errors import FormatError

ISO_SECTOR = 2048
BOOT_RECORD_SECTOR = 17
PLATFORM_X86 = 0x00
PLATFORM_POWERPC = 0x01
PLATFORM_MAC = 0x02
PLATFORM_EFI = 0xEF
PLATFORM_NAMES = {PLATFORM_X86: "x86", PLATFORM_POWERPC: "PowerPC", PLATFORM_MAC: "Mac", PLATFORM_EFI: "EFI"}
BOOTABLE = 0x88
NOT_BOOTABLE = 0x00
SECTION_HEADER = 0x90
FINAL_SECTION_HEADER = 0x91
EXTENSION = 0x44
#: catalog sectors read at most: 1,024 records, far more than any media carries
MAX_CATALOG_SECTORS = 16


@dataclass(frozen=True)
class BootEntry:
    """One initial or section entry; `sector_count` is in 512-byte virtual sectors (§2.2)."""

    platform: int
    bootable: bool
    media_type: int  # 0 no emulation, 1/2/3 1.2/1.44/2.88 MB floppy, 4 hard disk
    load_segment: int  # 0 means the traditional 0x7C0
    system_type: int
    sector_count: int
    load_rba: int  # 2048-byte sector of the image
    section: int  # 0 for the initial/default entry, else the section's number from 1

    @property
    def offset(self) -> int:
        return self.load_rba * ISO_SECTOR

    @property
    def platform_name(self) -> str:
        return PLATFORM_NAMES.get(self.platform, f"platform {self.platform:#04x}")


@dataclass(frozen=True)
class BootCatalog:
    catalog_lba: int
    platform: int  # the validation entry's, which is the initial entry's
    id_string: str
    entries: tuple[BootEntry, ...]  # the initial entry first, then every section entry in order


def has_boot_record(fh: BinaryIO) -> bool:
    """True when sector 17 is an El Torito boot record volume descriptor."""
    fh.seek(BOOT_RECORD_SECTOR * ISO_SECTOR)
    record = fh.read(ISO_SECTOR)
    return record[:6] == b"\x00CD001" and record[7:30] == b"EL TORITO SPECIFICATION"


def read_boot_catalog(fh: BinaryIO, *, path: str | Path) -> BootCatalog | None:
    """The boot catalog of the ISO in `fh`; None without a boot record; FormatError when damaged."""
    if not has_boot_record(fh):
        return None
    fh.seek(BOOT_RECORD_SECTOR * ISO_SECTOR + 0x47)
    (catalog_lba,) = struct.unpack("<I", fh.read(4))
    sectors = fh.seek(0, 2) // ISO_SECTOR
    if catalog_lba >= sectors:
        raise FormatError(
            f"El Torito boot catalog at sector {catalog_lba} is past the end of the image ({sectors} sectors)",
            path=path,
        )
    reader = _Records(fh, catalog_lba, min(MAX_CATALOG_SECTORS, sectors - catalog_lba), path)
    validation = reader.next()
    platform, id_string = _validation(validation, path)
    entries = [_entry(reader.next(), platform, 0, path, initial=True)]
    section = 0
    while True:
        header = reader.peek()
        if header is None or header[0] not in (SECTION_HEADER, FINAL_SECTION_HEADER):
            break  # 0x00 (or anything else) where a header would be: the catalog ends
        reader.next()
        section += 1
        (count,) = struct.unpack_from("<H", header, 2)
        for _ in range(count):
            entries.append(_entry(reader.next(), header[1], section, path))
            while (ext := reader.peek()) is not None and ext[0] == EXTENSION:
                reader.next()
        if header[0] == FINAL_SECTION_HEADER:
            break
    for n, entry in enumerate(entries):
        if entry.load_rba >= sectors:
            raise FormatError(
                f"El Torito entry {n + 1} ({entry.platform_name}) points to sector {entry.load_rba}, "
                f"past the end of the image ({sectors} sectors)",
                path=path,
            )
    return BootCatalog(catalog_lba, platform, id_string, tuple(entries))


class _Records:
    """The catalog's 32-byte records, read a sector at a time up to `limit` sectors."""

    def __init__(self, fh: BinaryIO, lba: int, limit: int, path: str | Path) -> None:
        self.fh, self.lba, self.limit, self.path = fh, lba, limit, path
        self.data = b""
        self.pos = 0

    def peek(self) -> bytes | None:
        if self.pos + 32 > len(self.data):
            loaded = len(self.data) // ISO_SECTOR
            if loaded >= self.limit:
                return None
            self.fh.seek((self.lba + loaded) * ISO_SECTOR)
            sector = self.fh.read(ISO_SECTOR)
            if len(sector) < ISO_SECTOR:
                return None
            self.data += sector
        return self.data[self.pos : self.pos + 32]

    def next(self) -> bytes:
        record = self.peek()
        if record is None:
            raise FormatError(
                f"El Torito boot catalog at sector {self.lba} is cut off after {len(self.data) // ISO_SECTOR} "
                "sectors",
                path=self.path,
            )
        self.pos += 32
        return record


def _validation(record: bytes, path: str | Path) -> tuple[int, str]:
    if record[0] != 0x01 or record[30:32] != b"\x55\xaa":
        raise FormatError(
            "El Torito boot catalog has no validation entry (header ID 1, key 55 AA)", path=path
        )
    if sum(struct.unpack("<16H", record)) & 0xFFFF:
        raise FormatError("El Torito validation entry checksum is wrong", path=path)
    return record[1], record[4:28].rstrip(b"\0").decode("latin-1")


def _entry(
    record: bytes, platform: int, section: int, path: str | Path, *, initial: bool = False
) -> BootEntry:
    indicator, media, segment, system, _unused, count, rba = struct.unpack_from("<BBHBBHI", record)
    if indicator not in (BOOTABLE, NOT_BOOTABLE) or (media & 0x0F) > 4:
        what = "initial entry" if initial else f"entry of section {section}"
        raise FormatError(f"El Torito {what} is not a boot entry (indicator {indicator:#04x})", path=path)
    return BootEntry(platform, indicator == BOOTABLE, media & 0x0F, segment, system, count, rba, section)
