"""PXE stand-ins that behave like Microsoft's where the pipeline depends on it (issue 13).

* `pxeboot_program`: pxeboot.n12/pxeboot.com. Downloads `bootmgr.exe` over TFTP through the PXE
  API from the directory before the last backslash of its own boot file name, so a `/` name
  fails like the real one (pxeboot.asm).
* `bootmgr_exe_program`: bootmgr.exe, one PE32 file with two entries: the real-mode code the
  pxeboot stand-in jumps to (in the DOS-stub area: option 252 or \\Boot\\BCD, BCD over TFTP,
  SHA-256, ramdisk sizes; bootmgr_rm.asm) and the PE32 entry wimboot calls on BIOS
  (bootmgr_pm.asm).
* `bootmgfw_program`: bootmgfw.efi. x64: the same steps through EFI_PXE_BASE_CODE_PROTOCOL; not
  started by PXE (CD, USB disk) the same facts through the firmware's file systems (efi_fs.inc),
  or the plain `<marker> fw=<vendor>` line when no volume has \\EFI\\Microsoft\\Boot\\BCD (HTTP
  Boot); other architectures get the plain sample EFI program.
* `cdboot_program`: the efisys.bin `bootx64.efi` (cdboot.efi), x64: the same program in mode 1:
  the BCD must be on some volume, and the boot manager it hands over to (\\EFI\\Boot\\bootx64.efi)
  beside it; it prints ` next=<path>:<size>` before ` bcd=`.

Their verdict lines (docs/sample.md): `<marker> file=...` (pxeboot), `<marker> bcd=\\Boot\\x64\\BCD
sha256=<16 hex> sdi=<path>:<size> wim=<path>:<size>` (boot managers; bootmgfw adds `pxe file=`),
`<marker> [next=<path>:<size> ]bcd=\\EFI\\Microsoft\\Boot\\BCD ...` (from a CD or disk),
`<marker> bootapp=BOOT APP` (bootmgr.exe under wimboot), and on failure one line
`pebuild-standin <name>: ...` without the marker.
"""

from __future__ import annotations

from pebuild.sample.stubs import _check_marker, efi_program, obfuscate
from pebuild.sample.stubs._pe import IMAGE_SUBSYSTEM, PeImage, build_pe
from pebuild.sample.stubs._pxecode import BOOTMGFW_X64_CODE, BOOTMGR_PM_CODE, BOOTMGR_RM_CODE, PXEBOOT_CODE

#: what pxeboot.asm checks at offset 0x28 of bootmgr.exe before it jumps to 1000:0040
REAL_MODE_SIGNATURE = b"PBRM"
MARKER_MAX = 120


def pxeboot_program(marker: str, size: int = 2048) -> bytes:
    """pxeboot.n12 stand-in: real-mode NBP for 0000:7C00 (see module docstring)."""
    _check_marker(marker, MARKER_MAX)
    return (PXEBOOT_CODE + obfuscate(marker)).ljust(size, b"\0")


def bootmgr_exe_program(marker: str) -> bytes:
    """bootmgr.exe stand-in: PE32 boot application with a real-mode PXE entry at file offset 0x40."""
    _check_marker(marker, MARKER_MAX)
    record = obfuscate(marker)
    image = PeImage(
        arch="x86",
        subsystem=IMAGE_SUBSYSTEM["boot_application"],
        text=BOOTMGR_PM_CODE + record,
        dos_stub=BOOTMGR_RM_CODE + record,
        dos_signature=REAL_MODE_SIGNATURE,
    )
    return build_pe(image)


def bootmgfw_program(marker: str, arch: str = "amd64") -> bytes:
    """bootmgfw.efi stand-in: the PXE-aware program on amd64, the plain sample EFI program elsewhere."""
    if arch != "amd64":
        return efi_program(marker, arch)
    return _x64_boot_manager(marker, mode=0)


def cdboot_program(marker: str, arch: str = "amd64") -> bytes:
    """efisys.bin's bootx64.efi (cdboot.efi) stand-in: mode 1 of the x64 program, plain elsewhere."""
    if arch != "amd64":
        return efi_program(marker, arch)
    return _x64_boot_manager(marker, mode=1)


def _x64_boot_manager(marker: str, mode: int) -> bytes:
    _check_marker(marker, MARKER_MAX)
    text = BOOTMGFW_X64_CODE + bytes([mode]) + obfuscate(marker)
    return build_pe(PeImage(arch="amd64", subsystem=IMAGE_SUBSYSTEM["efi_application"], text=text))
