"""USB / raw disk image output: a FAT32 boot partition with the media tree, BIOS + UEFI bootable.

    write_usb_image(UsbRequest(media_dir, output, size="auto", table="mbr"|"gpt",
                               arch="amd64", label="WINPE", timestamp=None,
                               split_size=4000 MiB, data_size=None, data_fs="exfat")) -> UsbResult

A .wim of 4 GiB or more becomes .swm parts; an optional second partition (NTFS or
exFAT) holds the technician's data.

Built in user space with pebuild.fat (no root, loop devices or mtools); see docs/usb.md.
"""

from __future__ import annotations

from pebuild.usb._image import (
    EFI_BOOT_NAMES,
    REMOVED_TABLES,
    TABLES,
    UsbRequest,
    UsbResult,
    collect_media,
    parse_size,
    write_usb_image,
)

__all__ = [
    "EFI_BOOT_NAMES",
    "REMOVED_TABLES",
    "TABLES",
    "UsbRequest",
    "UsbResult",
    "collect_media",
    "parse_size",
    "write_usb_image",
]
