"""USB / raw disk image output: one FAT32 partition with the media tree, BIOS + UEFI bootable.

    write_usb_image(UsbRequest(media_dir, output, size="auto", table="mbr"|"gpt"|"hybrid",
                               arch="amd64", label="WINPE", timestamp=None)) -> UsbResult

Built in user space with pebuild.fat (no root, loop devices or mtools); see docs/usb.md.
"""

from __future__ import annotations

from pebuild.usb._image import (
    EFI_BOOT_NAMES,
    TABLES,
    UsbRequest,
    UsbResult,
    collect_media,
    parse_size,
    write_usb_image,
)

__all__ = [
    "EFI_BOOT_NAMES",
    "TABLES",
    "UsbRequest",
    "UsbResult",
    "collect_media",
    "parse_size",
    "write_usb_image",
]
