"""Read-only partition tables: the MBR's four entries and the GPT behind a protective entry.

`pebuild smoke` reads them to find the FAT volumes (and the BIOS path) of a disk
image, `pebuild check` to find the ESPs it must look into. The records are the
writer's (pebuild.usb._table: MbrEntry, GptPartition), so what one writes the
other reads.

Sources: UEFI Specification 2.10 §5.2.1 (legacy MBR: boot code, disk signature at
440, four 16-byte entries at 446, boot indicator 0x00/0x80, 55 AA), §5.2.3
(protective MBR: type 0xEE from LBA 1), §5.3.2 (GPT header validation: signature,
header CRC32 with its field zeroed, MyLBA, entry-array CRC32; when the primary
fails, the backup at the last LBA), §5.3.3 (128-byte entries, an all-zero type
GUID marks an unused one). Logical sectors are 512 bytes, as on every image pebuild
writes or smoke boots.
"""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pebuild.errors import FormatError
from pebuild.usb._table import ESP_TYPE, MBR_TYPE_PROTECTIVE, SECTOR, GptPartition, MbrEntry

__all__ = [
    "ESP_TYPE",
    "MBR_FAT_TYPES",
    "MBR_TYPE_ESP",
    "MBR_TYPE_PROTECTIVE",
    "SECTOR",
    "DiskLayout",
    "GptPartition",
    "MbrEntry",
    "mbr_rule_problems",
    "read_partitions",
]

#: MBR partition types of FAT volumes: FAT12, FAT16 < 32 MiB, FAT16, FAT32 CHS, FAT32 LBA, FAT16 LBA, ESP
MBR_FAT_TYPES = frozenset({0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, 0xEF})
MBR_TYPE_ESP = 0xEF

#: entry-array bytes read at most (8,192 entries of 128 bytes; tables carry 128)
MAX_GPT_ARRAY = 1 << 20


@dataclass(frozen=True)
class DiskLayout:
    """Sector 0 and, behind a protective entry, the GPT; `mbr` keeps all four slots (type 0 = unused)."""

    boot_code: bytes  # the first 440 bytes
    disk_signature: int
    mbr: tuple[MbrEntry, ...]
    gpt: tuple[tuple[int, GptPartition], ...] | None  # (entry number from 1, partition) of used entries
    disk_guid: uuid.UUID | None = None

    @property
    def has_boot_code(self) -> bool:
        return any(self.boot_code)


def read_partitions(fh: BinaryIO, *, path: str | Path) -> DiskLayout | None:
    """The partition tables of the disk image in `fh`; None when sector 0 has no 55 AA signature.

    A table that cannot be right (a boot indicator other than 0x00/0x80, a partition
    starting past the end of the image, a GPT whose primary and backup both fail
    validation) is a FormatError with the reason.
    """
    total = fh.seek(0, 2) // SECTOR
    fh.seek(0)
    sector = fh.read(SECTOR)
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return None
    entries = []
    for i in range(4):
        status, ptype, start, count = struct.unpack_from("<B3xB3xII", sector, 446 + 16 * i)
        if status not in (0x00, 0x80):
            raise FormatError(
                f"MBR entry {i + 1}: boot indicator {status:#04x} is neither 0x00 nor 0x80", path=path
            )
        if ptype and not 1 <= start < total:
            raise FormatError(
                f"MBR partition {i + 1} starts at LBA {start}, outside the image ({total} sectors)", path=path
            )
        entries.append(MbrEntry(status == 0x80, ptype, start, count))
    gpt, disk_guid = None, None
    if any(e.type == MBR_TYPE_PROTECTIVE for e in entries):
        disk_guid, gpt = _read_gpt(fh, total, path)
    (signature,) = struct.unpack_from("<I", sector, 440)
    return DiskLayout(sector[:440], signature, tuple(entries), gpt, disk_guid)


def _read_gpt(
    fh: BinaryIO, total: int, path: str | Path
) -> tuple[uuid.UUID, tuple[tuple[int, GptPartition], ...]]:
    primary = _gpt_at(fh, 1, total)
    if isinstance(primary, str) and total > 1:
        backup = _gpt_at(fh, total - 1, total)
        if not isinstance(backup, str):
            return backup
    if isinstance(primary, str):
        raise FormatError(f"GPT: {primary}", path=path)
    return primary


def _gpt_at(
    fh: BinaryIO, lba: int, total: int
) -> tuple[uuid.UUID, tuple[tuple[int, GptPartition], ...]] | str:
    """The GPT whose header is at `lba`, or why it is not valid (UEFI 2.10 §5.3.2)."""
    where = "primary" if lba == 1 else "backup"
    fh.seek(lba * SECTOR)
    raw = fh.read(SECTOR)
    if raw[:8] != b"EFI PART":
        return f"no {where} header (signature 'EFI PART') at LBA {lba}"
    (size,) = struct.unpack_from("<I", raw, 12)
    if not 92 <= size <= SECTOR:
        return f"{where} header size {size} is outside 92..512"
    header = bytearray(raw[:size])
    (crc,) = struct.unpack_from("<I", header, 16)
    header[16:20] = bytes(4)
    if zlib.crc32(header) != crc:
        return f"{where} header CRC32 is wrong"
    my_lba, _alt, _first, _last, guid, array_lba, count, entry_size, array_crc = struct.unpack_from(
        "<QQQQ16sQIII", header, 24
    )
    if my_lba != lba:
        return f"{where} header at LBA {lba} says it is at LBA {my_lba}"
    if entry_size < 128 or entry_size % 8:
        return f"{where} header: entry size {entry_size} is not a multiple of 8 from 128"
    if count * entry_size > MAX_GPT_ARRAY:
        return f"{where} header: {count} entries of {entry_size} bytes exceed {MAX_GPT_ARRAY} bytes"
    array_sectors = -(-count * entry_size // SECTOR)
    if array_lba < 1 or array_lba + array_sectors > total:
        return f"{where} entry array at LBA {array_lba} lies outside the image ({total} sectors)"
    fh.seek(array_lba * SECTOR)
    array = fh.read(count * entry_size)
    if zlib.crc32(array) != array_crc:
        return f"{where} entry array CRC32 is wrong"
    used = []
    for i in range(count):
        type_le, unique_le, first, last, attributes, name = struct.unpack_from(
            "<16s16sQQQ72s", array, i * entry_size
        )
        if type_le == bytes(16):
            continue
        if not first <= last < total:
            return f"{where} entry {i + 1}: LBAs {first}..{last} lie outside the image ({total} sectors)"
        label = name.decode("utf-16-le", "replace").split("\0")[0]
        part = GptPartition(
            uuid.UUID(bytes_le=type_le), uuid.UUID(bytes_le=unique_le), first, last, label, attributes
        )
        used.append((i + 1, part))
    return uuid.UUID(bytes_le=guid), tuple(used)


def mbr_rule_problems(layout: DiskLayout, total_sectors: int) -> list[str]:
    """What is wrong with sector 0 by the rules firmware and Windows apply; empty when it is fine.

    With a 0xEE entry the MBR must be a protective MBR (UEFI 2.10 §5.2.3): that one
    entry, not bootable, from LBA 1 over min(disk - 1, 0xFFFFFFFF) sectors, the other
    three all zero. Windows' boot library stops with 0xc00000bb on a "hybrid" MBR that
    lists real partitions beside it. Without one (a legacy MBR, §5.2.1): partitions
    inside the disk, not overlapping, at most one active.
    """
    problems: list[str] = []
    used = [(i + 1, e) for i, e in enumerate(layout.mbr) if e.type]
    protective = [n for n, e in used if e.type == MBR_TYPE_PROTECTIVE]
    if protective:
        if len(used) > 1:
            others = ", ".join(f"{n} (type {e.type:#04x})" for n, e in used if e.type != MBR_TYPE_PROTECTIVE)
            problems.append(f"hybrid MBR: entries {others} beside the protective 0xEE entry")
        for n, e in used:
            if e.type != MBR_TYPE_PROTECTIVE:
                continue
            want = min(total_sectors - 1, 0xFFFFFFFF)
            if e.start_lba != 1 or e.sectors != want:
                problems.append(
                    f"protective entry {n} covers LBA {e.start_lba} + {e.sectors} sectors, not 1 + {want}"
                )
            if e.bootable:
                problems.append(f"protective entry {n} is marked active")
        return problems
    if sum(e.bootable for _, e in used) > 1:
        problems.append("more than one active MBR partition")
    spans = sorted((e.start_lba, e.start_lba + e.sectors, n) for n, e in used)
    for start, end, n in spans:
        if start < 1 or end > total_sectors:
            problems.append(f"MBR partition {n} (LBA {start}..{end - 1}) lies outside the disk")
    for (_, end, n), (start, _, m) in itertools.pairwise(spans):
        if start < end:
            problems.append(f"MBR partitions {n} and {m} overlap")
    return problems
