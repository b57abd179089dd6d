"""Partition tables: MBR (with our chainloader), GPT (primary + backup) behind a protective MBR.

Sources: UEFI Specification 2.10 §5.2 (legacy MBR, protective MBR: one 0xEE entry
from LBA 1) and §5.3 (GPT header, 128-byte entries, CRC32 over the header with its
CRC field zeroed and over the entry array; backup array and header at the disk end).
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

SECTOR = 512
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ARRAY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // SECTOR  # 32

#: EFI System Partition: firmware looks here for \EFI\BOOT\BOOT<arch>.EFI
ESP_TYPE = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
#: Microsoft Basic Data: NTFS, exFAT and FAT data volumes (the data partition)
BASIC_DATA_TYPE = uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")
MBR_TYPE_FAT32_LBA = 0x0C
MBR_TYPE_PROTECTIVE = 0xEE


@dataclass(frozen=True)
class MbrEntry:
    bootable: bool
    type: int
    start_lba: int
    sectors: int


def _chs(lba: int) -> bytes:
    """CHS triple for an LBA with the usual 255 heads x 63 sectors; past cylinder 1023, the max."""
    heads, spt = 255, 63
    cylinder = lba // (heads * spt)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head = (lba // spt) % heads
    sector = lba % spt + 1
    return bytes([head, sector | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def mbr_sector(code: bytes, disk_signature: int, entries: list[MbrEntry]) -> bytes:
    """Sector 0: boot code (<= 440 bytes), 32-bit disk signature, 4 entries, 55 AA."""
    if len(code) > 440 or len(entries) > 4:
        raise ValueError("MBR code over 440 bytes or more than 4 entries")
    sector = bytearray(SECTOR)
    sector[: len(code)] = code
    struct.pack_into("<I", sector, 440, disk_signature)
    for index, entry in enumerate(entries):
        start = entry.start_lba
        last = start + entry.sectors - 1
        if entry.type == MBR_TYPE_PROTECTIVE:
            start_chs, end_chs = b"\x00\x02\x00", (b"\xfe\xff\xff" if last > 0xFFFFFF else _chs(last))
        else:
            start_chs, end_chs = _chs(start), _chs(last)
        struct.pack_into(
            "<B3sB3sII",
            sector,
            446 + 16 * index,
            0x80 if entry.bootable else 0x00,
            start_chs,
            entry.type,
            end_chs,
            start,
            min(entry.sectors, 0xFFFFFFFF),
        )
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


@dataclass(frozen=True)
class GptPartition:
    type_guid: uuid.UUID
    unique_guid: uuid.UUID
    first_lba: int
    last_lba: int  # inclusive
    name: str
    attributes: int = 0


def _gpt_header(
    disk_guid: uuid.UUID, total: int, *, backup: bool, array_crc: int, first_usable: int, last_usable: int
) -> bytes:
    my_lba, alt_lba = (total - 1, 1) if backup else (1, total - 1)
    array_lba = total - 1 - GPT_ARRAY_SECTORS if backup else 2
    fields = [
        b"EFI PART", 0x00010000, 92, 0, 0, my_lba, alt_lba, first_usable, last_usable,
        disk_guid.bytes_le, array_lba, GPT_ENTRIES, GPT_ENTRY_SIZE, array_crc,
    ]  # fmt: skip
    header = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", *fields))
    struct.pack_into("<I", header, 16, zlib.crc32(header))
    return bytes(header).ljust(SECTOR, b"\0")


def gpt_structures(
    disk_guid: uuid.UUID, total_sectors: int, partitions: list[GptPartition]
) -> tuple[bytes, bytes]:
    """(primary header + array for LBA 1.., backup array + header for the last 33 LBAs)."""
    array = bytearray(GPT_ENTRIES * GPT_ENTRY_SIZE)
    for index, part in enumerate(partitions):
        name = part.name.encode("utf-16-le")[:72].ljust(72, b"\0")
        struct.pack_into(
            "<16s16sQQQ72s",
            array,
            index * GPT_ENTRY_SIZE,
            part.type_guid.bytes_le,
            part.unique_guid.bytes_le,
            part.first_lba,
            part.last_lba,
            part.attributes,
            name,
        )
    array_crc = zlib.crc32(array)
    first_usable = 2 + GPT_ARRAY_SECTORS
    last_usable = total_sectors - 2 - GPT_ARRAY_SECTORS
    common = {"array_crc": array_crc, "first_usable": first_usable, "last_usable": last_usable}
    primary = _gpt_header(disk_guid, total_sectors, backup=False, **common) + bytes(array)
    backup = bytes(array) + _gpt_header(disk_guid, total_sectors, backup=True, **common)
    return primary, backup
