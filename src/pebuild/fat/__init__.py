"""FAT12/FAT16/FAT32 image writer in user space, and a quick FAT check.

Why our own writer: it is deterministic (sorted entries, timestamps from
pebuild.clock, volume id from stable_guid), needs neither root nor loop devices
nor mtools at run time, and streams file contents into the image at computed
offsets, so big files never sit in memory. mtools and fsck.fat are used only as
independent checkers in the tests.

    make_fat_image({"EFI/BOOT/BOOTX64.EFI": data}, size=1_474_560) -> bytes
    write_fat_image(path, files, size=...)             # atomic, streamed
    efisys_image({"EFI/BOOT/BOOTX64.EFI": data})       # Microsoft's efisys.bin shape
    is_fat_image(data_or_path) -> bool

Sources: fatgen103 (Microsoft FAT32 File System Specification); formats.md §4.3.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Mapping
from pathlib import Path

from pebuild.fat._geometry import FLOPPY_SECTORS, SECTOR, FatGeometry, choose_geometry
from pebuild.fat._image import FatFile, FatOptions, FatPlan, plan_fat
from pebuild.fsutil import atomic_output
from pebuild.progress import Progress

__all__ = [
    "EFISYS_SIZE",
    "FatFile",
    "FatGeometry",
    "FatOptions",
    "FatPlan",
    "choose_geometry",
    "efisys_image",
    "fat_type",
    "is_fat_image",
    "make_fat_image",
    "plan_fat",
    "write_fat_image",
]

EFISYS_SIZE = FLOPPY_SECTORS * SECTOR  # 1,474,560

FatFiles = Mapping[str, bytes | Path | FatFile]


def make_fat_image(
    files: FatFiles,
    *,
    size: int,
    fat_type: int | None = None,
    label: str = "NO NAME",
    oem: str = "MSDOS5.0",
    volume_id: int | None = None,
    timestamp: int | None = None,
    hidden_sectors: int = 0,
    boot_code: bytes | None = None,
) -> bytes:
    """The whole volume as bytes (for small images such as efisys.bin).

    `files` maps image paths ('EFI/BOOT/BOOTX64.EFI') to bytes, a Path, or a FatFile;
    a key ending in '/' makes an (empty) directory. `boot_code` is either raw code placed
    after the BPB, or a whole boot-sector template (a multiple of 512 bytes) whose BPB is
    replaced by ours.
    """
    options = FatOptions(size, fat_type, label, oem, volume_id, timestamp, hidden_sectors, boot_code)
    plan = plan_fat(files, options)
    buf = io.BytesIO()
    plan.write(buf)
    data = buf.getvalue()
    return data + bytes(plan.size - len(data))


def write_fat_image(
    path: str | os.PathLike[str],
    files: FatFiles,
    *,
    size: int,
    fat_type: int | None = None,
    label: str = "NO NAME",
    oem: str = "MSDOS5.0",
    volume_id: int | None = None,
    timestamp: int | None = None,
    hidden_sectors: int = 0,
    boot_code: bytes | None = None,
    progress: Progress | None = None,
) -> FatPlan:
    """Write the volume to `path` atomically, streaming file contents (the file is sparse where free)."""
    options = FatOptions(size, fat_type, label, oem, volume_id, timestamp, hidden_sectors, boot_code)
    plan = plan_fat(files, options)
    with atomic_output(path) as fh:
        fh.truncate(plan.size)
        plan.write(fh, 0, progress)
    return plan


def efisys_image(files: FatFiles, *, timestamp: int | None = None, volume_id: int | None = None) -> bytes:
    """A 1,474,560-byte FAT12 floppy like Microsoft's efisys.bin (formats.md §4.3).

    OEM "MSDOS5.0", 512-byte sectors, 2880 sectors, media 0xF0, 2 FATs, 224 root
    entries, label "EFISECTOR"; usually holds only EFI/BOOT/BOOTX64.EFI.
    """
    return make_fat_image(
        files,
        size=EFISYS_SIZE,
        fat_type=12,
        label="EFISECTOR",
        oem="MSDOS5.0",
        volume_id=volume_id,
        timestamp=timestamp,
    )


def is_fat_image(data_or_path: bytes | str | os.PathLike[str]) -> bool:
    """True when the first sector is a plausible FAT boot sector (BPB sane, 55 AA signature)."""
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        sector = bytes(data_or_path[:SECTOR])
    else:
        try:
            with open(data_or_path, "rb") as fh:
                sector = fh.read(SECTOR)
        except OSError:
            return False
    if len(sector) < SECTOR or sector[0] not in (0xEB, 0xE9):
        return False
    nfats, media = sector[16], sector[21]
    if nfats not in (1, 2) or not (media == 0xF0 or media >= 0xF8):
        return False
    return fat_type(sector) is not None


def fat_type(sector: bytes) -> int | None:
    """12, 16 or 32 when `sector` is a FAT boot sector (Microsoft FAT spec cluster counts), else None."""
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return None
    bytes_per_sector, sec_per_clus, rsvd, num_fats, root_ents, tot16, _media, fat16 = struct.unpack_from(
        "<HBHBHHBH", sector, 11
    )
    tot32, fat32 = struct.unpack_from("<I", sector, 32)[0], struct.unpack_from("<I", sector, 36)[0]
    if bytes_per_sector not in (512, 1024, 2048, 4096):
        return None
    if sec_per_clus == 0 or sec_per_clus & (sec_per_clus - 1) or rsvd == 0 or num_fats == 0:
        return None
    fat_size = fat16 or fat32
    total = tot16 or tot32
    if fat_size == 0 or total == 0:
        return None
    root_secs = (root_ents * 32 + bytes_per_sector - 1) // bytes_per_sector
    data = total - (rsvd + num_fats * fat_size + root_secs)
    if data <= 0:
        return None
    clusters = data // sec_per_clus
    if clusters < 4085:
        return 12
    if clusters < 65525:
        return 16
    return 32 if root_ents == 0 and fat16 == 0 else None
