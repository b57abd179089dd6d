"""The four WinPE architectures, spelt as the ADK spells them, and what firmware each boots.

One table for every module that lays out boot files (source lookups, the sample kit,
media/, USB images): x86 and amd64 boot by BIOS and UEFI; arm64 and ia64 by UEFI only.

`normalize_arch` is the one place the common spellings become ADK names, so every verb
accepts the same words: x64/amd64/x86_64 (Windows, the ADK, Linux), x86/i386/ia32
(Windows, Linux, UEFI), arm64/aarch64 (Windows, Linux), ia64.
"""

from __future__ import annotations

from pebuild.errors import UsageError

ARCHES = ("x86", "amd64", "arm64", "ia64")
BIOS_ARCHES = ("x86", "amd64")

#: arch -> the part of the UEFI removable-media file name (UEFI spec §3.5.1.1: EFI/BOOT/BOOT<x>.EFI)
EFI_NAME = {"x86": "ia32", "amd64": "x64", "arm64": "aa64", "ia64": "ia64"}


def efi_boot_name(arch: str) -> str:
    """'bootx64.efi' for amd64 (the copype media spelling; FAT and firmware ignore case)."""
    return f"boot{EFI_NAME[arch]}.efi"


#: every accepted spelling (lower case) -> the ADK name
ALIASES = {
    "amd64": "amd64",
    "x64": "amd64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x86": "x86",
    "i386": "x86",
    "i686": "x86",
    "ia32": "x86",
    "arm64": "arm64",
    "aarch64": "arm64",
    "aa64": "arm64",
    "ia64": "ia64",
}


def normalize_arch(name: str) -> str:
    """The ADK name for any accepted spelling ('x64' -> 'amd64'); UsageError naming the choices."""
    arch = ALIASES.get(str(name).strip().lower())
    if arch is None:
        raise UsageError(
            f"unknown architecture {name!r}: expected x86, amd64, arm64 or ia64 "
            "(aliases: x64, x86_64, i386, ia32, aarch64)"
        )
    return arch
