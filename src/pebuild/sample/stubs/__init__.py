"""Tiny real boot programs that stand in for Microsoft's boot files in the sample source.

* `bios_program`: 16-bit real-mode code valid at 0000:7C00 (El Torito
  no-emulation image, PXE NBP loaded by iPXE, or a boot sector). Prints its
  marker on COM1 and the screen, then powers the machine off (bios.asm).
* `etfsboot_program`: the El Torito no-emulation image. Loads `BOOTMGR` from
  the ISO 9660 root to 2000:0000 and jumps there (etfsboot.asm).
* `bootmgr_program`: the BIOS `bootmgr`, valid at 2000:0000 where NT6 boot
  code loads it. Checks it was loaded whole (length + Adler-32), then on a CD
  or a FAT32 disk reads \\Boot\\BCD and the ramdisk's boot.sdi and boot.wim and
  prints what it found (bootmgr.asm; the chain is described in docs/sample.md).
* `efi_program`: an EFI application (subsystem 10). The x64, IA32 and AArch64
  ones really run: they print the marker through ConOut, which OVMF/AAVMF copy
  to the serial port, then call ResetSystem(EfiResetShutdown) (efi_x64.asm,
  efi_ia32.asm, efi_aa64.S). ia64 is structurally valid only.
* `pe_standin`: a PE of the right machine type for tools such as imagex.exe.

The marker is stored XOR 0x5A (qemu.md pitfall 7): its text never appears in
the image, so only a program that really ran can print it.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

from pebuild.errors import UsageError
from pebuild.sample.stubs._code import (
    BIOS_CODE,
    BOOTMGR_CODE,
    EFI_ARM64_CODE,
    EFI_IA32_CODE,
    EFI_IA64_CODE,
    EFI_X64_CODE,
    ETFSBOOT_CODE,
    WIN_X86_CODE,
)
from pebuild.sample.stubs._pe import IMAGE_FILE_MACHINE, IMAGE_SUBSYSTEM, PeImage, build_pe

__all__ = [
    "ARCHES",
    "MARKER_KEY",
    "bios_program",
    "bootmgr_program",
    "efi_program",
    "etfsboot_program",
    "obfuscate",
    "pe_standin",
]

ARCHES = ("x86", "amd64", "arm64", "ia64")
MARKER_KEY = 0x5A
#: the BIOS record must end before the 0x55AA signature at offset 510 (a 1-sector load still works)
BIOS_MARKER_MAX = 510 - len(BIOS_CODE) - 2
#: bootmgr.asm's line buffer holds the marker and about 450 characters of facts
BOOTMGR_MARKER_MAX = 200
#: bootmgr.asm's work area starts here: its code and marker record must end before it
_BOOTMGR_WORK = 0x1800
#: bootmgr.asm checks what its loader may load below the EBDA: 2000:0000 to 9F00:0000
BOOTMGR_MAX = 0x9F000 - 0x20000
#: the EFI programs decode into a 512-byte CHAR16 stack buffer
EFI_MARKER_MAX = 250

_EFI_CODE = {"amd64": EFI_X64_CODE, "x86": EFI_IA32_CODE, "arm64": EFI_ARM64_CODE, "ia64": EFI_IA64_CODE}
_WIN_CODE = {
    "amd64": WIN_X86_CODE,
    "x86": WIN_X86_CODE,
    "arm64": bytes.fromhex("00008052c0035fd6"),  # mov w0, #0 ; ret
    "ia64": EFI_IA64_CODE,
}


def obfuscate(text: str) -> bytes:
    """The marker record the programs decode: u16 length + bytes XOR 0x5A."""
    data = text.encode("ascii")
    return struct.pack("<H", len(data)) + bytes(b ^ MARKER_KEY for b in data)


def _check_marker(marker: str, limit: int) -> None:
    if not marker or len(marker) > limit:
        raise UsageError(f"marker must be 1..{limit} characters: {marker!r}")
    if any(not 0x20 <= ord(c) < 0x7F for c in marker):
        raise UsageError(f"marker must be printable ASCII: {marker!r}")


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        raise UsageError(f"unknown arch {arch!r} (expected one of {', '.join(ARCHES)})")


def bios_program(marker: str, size: int = 2048) -> bytes:
    """A real-mode program for 0000:7C00 that prints `marker` (+ ` dl=XX`) and powers off.

    Padded with zeros to `size` bytes (etfsboot.com is 4096, a sector-count-8
    El Torito load); bytes 510-511 carry 0x55AA so it also boots as a sector.
    """
    _check_marker(marker, BIOS_MARKER_MAX)
    if size < 512:
        raise UsageError(f"BIOS program size must be at least 512 bytes, not {size}")
    image = bytearray((BIOS_CODE + obfuscate(marker)).ljust(size, b"\0"))
    image[510:512] = b"\x55\xaa"
    return bytes(image)


def etfsboot_program(size: int = 4096) -> bytes:
    """The El Torito no-emulation image that loads `BOOTMGR` from the disc and jumps to it.

    It prints no marker (only the boot manager it loads can pass a smoke run);
    4096 bytes like Microsoft's, a sector-count-8 load (the code is under 2 KiB).
    """
    if size < len(ETFSBOOT_CODE):
        raise UsageError(f"etfsboot program size must be at least {len(ETFSBOOT_CODE)} bytes, not {size}")
    return ETFSBOOT_CODE.ljust(size, b"\0")


def bootmgr_program(marker: str, size: int = 8192) -> bytes:
    """A stand-in for the BIOS `bootmgr`, valid at 2000:0000 where boot code loads it.

    The padding up to `size` is a fixed pseudo-random stream, not zeros, and
    the whole file is covered by the Adler-32 at offset 6: a loader that stops
    early (zeroed memory after one cluster) makes it fail instead of run.
    """
    _check_marker(marker, BOOTMGR_MARKER_MAX)
    program = BOOTMGR_CODE + obfuscate(marker)
    if len(program) > _BOOTMGR_WORK:
        raise UsageError(f"bootmgr marker too long: {marker!r}")
    if not len(program) <= size <= BOOTMGR_MAX:
        raise UsageError(f"bootmgr program size must be {len(program)}..{BOOTMGR_MAX} bytes, not {size}")
    pad = hashlib.shake_256(b"pebuild sample bootmgr padding").digest(size - len(program))
    image = bytearray(program + pad)
    struct.pack_into("<I", image, 2, size)
    struct.pack_into("<I", image, 6, zlib.adler32(bytes(image[10:])))
    return bytes(image)


def efi_program(marker: str, arch: str = "amd64") -> bytes:
    """An EFI application for `arch` (PE32 for x86, PE32+ otherwise) that prints `marker`."""
    _check_arch(arch)
    _check_marker(marker, EFI_MARKER_MAX)
    # the x64/IA32 code prints the record, then FirmwareVendor: "<marker> fw=EDK II" under OVMF
    text = _EFI_CODE[arch] + obfuscate(marker + " fw=")
    return build_pe(PeImage(arch=arch, subsystem=IMAGE_SUBSYSTEM["efi_application"], text=text))


#: the FileVersion the stand-ins report (the ADK 10.0.26100 generation), in their version resource
STANDIN_VERSION = (10, 0, 26100, 1)


def pe_standin(name: str, arch: str, subsystem: str = "console") -> bytes:
    """A valid PE of `arch`'s machine type whose entry returns 0; it names what it stands in for.

    Windows-subsystem images (console, windows, boot applications) carry a
    VS_VERSIONINFO resource naming the file, so version readers find one.
    """
    _check_arch(arch)
    if subsystem not in IMAGE_SUBSYSTEM:
        raise UsageError(f"unknown PE subsystem {subsystem!r} (expected one of {', '.join(IMAGE_SUBSYSTEM)})")
    note = f"pebuild sample stand-in for {name} ({arch}); not a Microsoft file\0".encode("ascii", "replace")
    code = _WIN_CODE[arch]
    text = code.ljust(16, b"\0") + note
    number = IMAGE_SUBSYSTEM[subsystem]
    info = None
    if number not in (10, 11, 12):
        from pebuild.sample.stubs._version import version_info

        info = version_info(name, STANDIN_VERSION, dll=name.lower().endswith((".dll", ".mui")))
    return build_pe(PeImage(arch=arch, subsystem=number, text=text, version_info=info))


assert set(IMAGE_FILE_MACHINE) == set(ARCHES)
