"""Checks on El Torito boot images before they go into the catalog.

UEFI firmware mounts the platform 0xEF image as a FAT file system (formats.md
E3), so an image that is not FAT would only fail at boot time: refuse it here
with the reason. The checks are those of a FAT boot sector (Microsoft FAT
spec): 0x55AA signature, a sane BPB, and a cluster count that matches a FAT
type.
"""

from __future__ import annotations

import struct
from pathlib import Path

from pebuild.errors import FormatError, UsageError


def check_boot_file(path: Path, what: str) -> int:
    """The file's size; a missing or empty boot file is a usage error naming the option."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UsageError(f"{what} boot image not found", path=path) from None
    except OSError as exc:
        raise UsageError(f"{what} boot image cannot be read: {exc.strerror}", path=path) from None
    if not path.is_file():
        raise UsageError(f"{what} boot image is not a regular file", path=path)
    if size == 0:
        raise FormatError(f"{what} boot image is empty", path=path)
    return size


def fat_type(sector: bytes) -> int | None:
    """12, 16 or 32 when `sector` is a FAT boot sector, else None."""
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
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


def check_uefi_image(path: Path) -> int:
    """Size of a valid FAT image at `path`; FormatError with the reason otherwise."""
    size = check_boot_file(path, "UEFI")
    with open(path, "rb") as fh:
        sector = fh.read(512)
    if len(sector) < 512 or sector[510:512] != b"\x55\xaa":
        raise FormatError("UEFI boot image is not a FAT image (no 55 AA boot sector signature)", path=path)
    if fat_type(sector) is None:
        raise FormatError(
            "UEFI boot image is not a FAT image (its BIOS parameter block is invalid)", path=path
        )
    return size
