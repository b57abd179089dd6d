"""The four WinPE architectures, spelt as the ADK spells them, and what firmware each boots.

One table for every module that lays out boot files (source lookups, the sample kit,
media/, USB images): x86 and amd64 boot by BIOS and UEFI; arm64 and ia64 by UEFI only.
"""

from __future__ import annotations

ARCHES = ("x86", "amd64", "arm64", "ia64")
BIOS_ARCHES = ("x86", "amd64")

#: arch -> the part of the UEFI removable-media file name (UEFI spec §3.5.1.1: EFI/BOOT/BOOT<x>.EFI)
EFI_NAME = {"x86": "ia32", "amd64": "x64", "arm64": "aa64", "ia64": "ia64"}


def efi_boot_name(arch: str) -> str:
    """'bootx64.efi' for amd64 (the copype media spelling; FAT and firmware ignore case)."""
    return f"boot{EFI_NAME[arch]}.efi"
