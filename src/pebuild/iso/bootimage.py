"""Checks on El Torito boot images before they go into the catalog.

UEFI firmware mounts the platform 0xEF image as a FAT file system (formats.md
E3), so an image that is not FAT would only fail at boot time: refuse it here
with the reason. The checks are those of a FAT boot sector (Microsoft FAT
spec): 0x55AA signature, a sane BPB, and a cluster count that matches a FAT
type.
"""

from __future__ import annotations

from pathlib import Path

from pebuild.errors import FormatError, UsageError
from pebuild.fat import fat_type


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
