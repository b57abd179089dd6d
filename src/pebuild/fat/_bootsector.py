"""Boot sector (BPB), FSInfo and the default "not bootable" boot code.

Sources: fatgen103 §3 (BPB fields and offsets, FAT12/16 vs FAT32 extended BPB),
§5 (FSInfo signatures 0x41615252 / 0x61417272 / 0xAA550000).
"""

from __future__ import annotations

import struct

from pebuild.errors import UsageError
from pebuild.fat._geometry import SECTOR, FatGeometry

FAT16_CODE_OFFSET = 62  # first byte after the FAT12/16 extended BPB
FAT32_CODE_OFFSET = 90  # first byte after the FAT32 extended BPB
FSINFO_SECTOR = 1
BACKUP_BOOT_SECTOR = 6


def code_offset(fat_type: int) -> int:
    return FAT32_CODE_OFFSET if fat_type == 32 else FAT16_CODE_OFFSET


def not_bootable_code(offset: int) -> bytes:
    """16-bit code: print a message with INT 10h, wait for a key, INT 19h (try the next boot device)."""
    message = b"This disk is not bootable: no operating system on it.\r\nPress a key to retry.\r\n\x00"
    head = b"\x31\xc0\x8e\xd8"  # xor ax,ax ; mov ds,ax
    loop = b"\xac\x84\xc0\x74\x09\xb4\x0e\xbb\x07\x00\xcd\x10\xeb\xf2"  # lodsb/test/jz hang/int 10h/jmp loop
    hang = b"\x31\xc0\xcd\x16\xcd\x19"  # xor ax,ax ; int 16h ; int 19h
    msg_addr = 0x7C00 + offset + len(head) + 3 + len(loop) + len(hang)
    return head + b"\xbe" + struct.pack("<H", msg_addr) + loop + hang + message


def _label11(label: str) -> bytes:
    return label.encode("ascii").ljust(11)


def boot_sector(
    geo: FatGeometry, *, oem: str, label: str, volume_id: int, boot_code: bytes | None
) -> tuple[bytes, dict[int, bytes]]:
    """Sector 0 and any extra reserved sectors taken from a boot-sector template."""
    off = code_offset(geo.fat_type)
    extra: dict[int, bytes] = {}
    if boot_code is not None and len(boot_code) >= SECTOR and len(boot_code) % SECTOR == 0:
        template = boot_code
        sector = bytearray(template[:SECTOR])
        if sector[0] not in (0xEB, 0xE9):
            raise UsageError("boot sector template does not start with a jump instruction")
        for index in range(1, len(template) // SECTOR):
            if index in (FSINFO_SECTOR, BACKUP_BOOT_SECTOR, BACKUP_BOOT_SECTOR + 1):
                continue
            if index < geo.reserved_sectors:
                extra[index] = template[index * SECTOR : (index + 1) * SECTOR]
        if 2 in extra and geo.reserved_sectors > BACKUP_BOOT_SECTOR + 2:
            extra[BACKUP_BOOT_SECTOR + 2] = extra[2]
    else:
        code = boot_code if boot_code is not None else not_bootable_code(off)
        if len(code) > 510 - off:
            raise UsageError(f"boot code is {len(code)} bytes; FAT{geo.fat_type} leaves room for {510 - off}")
        sector = bytearray(SECTOR)
        sector[0:3] = bytes([0xEB, off - 2, 0x90])
        sector[off : off + len(code)] = code
    sector[3:11] = oem.encode("ascii").ljust(8)[:8]
    total16 = geo.total_sectors if geo.total_sectors < 0x10000 and geo.fat_type != 32 else 0
    struct.pack_into(
        "<HBHBHHBHHHII",
        sector,
        11,
        SECTOR,
        geo.sectors_per_cluster,
        geo.reserved_sectors,
        geo.num_fats,
        geo.root_entries,
        total16,
        geo.media,
        0 if geo.fat_type == 32 else geo.fat_sectors,
        geo.sectors_per_track,
        geo.heads,
        geo.hidden_sectors,
        0 if total16 else geo.total_sectors,
    )
    fs_type = f"FAT{geo.fat_type}".ljust(8).encode("ascii")
    if geo.fat_type == 32:
        struct.pack_into(
            "<IHHIHH12x", sector, 36, geo.fat_sectors, 0, 0, 2, FSINFO_SECTOR, BACKUP_BOOT_SECTOR
        )
        struct.pack_into(
            "<BBBI11s8s", sector, 64, geo.drive_number, 0, 0x29, volume_id, _label11(label), fs_type
        )
    else:
        struct.pack_into(
            "<BBBI11s8s", sector, 36, geo.drive_number, 0, 0x29, volume_id, _label11(label), fs_type
        )
    sector[510:512] = b"\x55\xaa"
    return bytes(sector), extra


def fsinfo_sector(free_clusters: int, next_free: int) -> bytes:
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 0, 0x41615252)
    struct.pack_into("<III", sector, 484, 0x61417272, free_clusters, next_free)
    struct.pack_into("<I", sector, 508, 0xAA550000)
    return bytes(sector)


def reserved_area(
    geo: FatGeometry,
    *,
    oem: str,
    label: str,
    volume_id: int,
    boot_code: bytes | None,
    free: int,
    next_free: int,
) -> bytes:
    """The whole reserved region: boot sector, FSInfo and their backups for FAT32."""
    area = bytearray(geo.reserved_sectors * SECTOR)
    sector0, extra = boot_sector(geo, oem=oem, label=label, volume_id=volume_id, boot_code=boot_code)
    area[0:SECTOR] = sector0
    for index, data in extra.items():
        area[index * SECTOR : (index + 1) * SECTOR] = data
    if geo.fat_type == 32:
        info = fsinfo_sector(free, next_free)
        area[SECTOR : 2 * SECTOR] = info
        b = BACKUP_BOOT_SECTOR * SECTOR
        area[b : b + SECTOR] = sector0
        area[b + SECTOR : b + 2 * SECTOR] = info
        if 2 not in extra:
            # Windows' format puts a boot signature at the end of sector 2 (and its backup, 8)
            area[3 * SECTOR - 2 : 3 * SECTOR] = b"\x55\xaa"
            area[(BACKUP_BOOT_SECTOR + 3) * SECTOR - 2 : (BACKUP_BOOT_SECTOR + 3) * SECTOR] = b"\x55\xaa"
    return bytes(area)
