"""The ISOs boot: SeaBIOS runs the BIOS catalog entry, OVMF the 0xEF FAT image (qemu.md 1, 2).

The boot images are the sample source's real programs; each run uses a fresh
marker, so only the image this ISO's catalog points at can print it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.fat import efisys_image
from pebuild.iso import IsoRequest, parse_oscdimg_args, write_iso
from pebuild.qemu import SmokeRequest, smoke
from pebuild.sample.stubs import bios_program, efi_program


def _markers() -> tuple[str, str]:
    tag = os.urandom(4).hex().upper()
    return f"PEBUILD-SAMPLE etfsboot.com {tag}", f"PEBUILD-SAMPLE bootx64.efi {tag}"


def _fw(dir_: Path, bios_marker: str, uefi_marker: str) -> tuple[Path, Path]:
    dir_.mkdir()
    bios, uefi = dir_ / "etfsboot.com", dir_ / "efisys.bin"
    bios.write_bytes(bios_program(bios_marker, size=4096))
    uefi.write_bytes(efisys_image({"EFI/BOOT/BOOTX64.EFI": efi_program(uefi_marker)}))
    return bios, uefi


def _boot(iso: Path, firmware: str, marker: str, tmp_path: Path) -> None:
    log = tmp_path / f"{firmware}.log"
    result = smoke(SmokeRequest(iso, firmware=firmware, expect=[marker], serial_log=log))  # ToolError fails
    assert result.ok, (result.reason, log.read_bytes()[-2000:])
    assert marker in result.markers
    serial = log.read_bytes()
    if firmware == "bios":
        # SeaBIOS hands the first CD's drive number (E0) to an El Torito image (qemu.md 1)
        assert f"{marker} dl=E0".encode() in serial
    else:
        # OVMF started the DVD's 0xEF image, not some other boot option (qemu.md 2)
        assert b"UEFI QEMU DVD-ROM" in serial and b"fw=EDK II" in serial


@pytest.mark.smoke
@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_iso_boot_dual_catalog(kit, tmp_path, firmware):
    require_tool("qemu-system-x86_64")
    bios_marker, uefi_marker = _markers()
    bios, uefi = _fw(tmp_path / "fw", bios_marker, uefi_marker)
    iso = tmp_path / "winpe.iso"
    write_iso(IsoRequest(kit.media, iso, bios, uefi, label="WINPE", timestamp=0))
    _boot(iso, firmware, bios_marker if firmware == "bios" else uefi_marker, tmp_path)


@pytest.mark.smoke
def test_iso_boot_oscdimg_udf_only_uefi(kit, tmp_path):
    """KB947024's -u2 disc with only a UEFI entry (arm64/ia64 shape) still boots from its catalog."""
    require_tool("qemu-system-x86_64")
    _bios_marker, uefi_marker = _markers()
    _fw(kit.media.parent / "fw", _bios_marker, uefi_marker)
    line = r"-m -o -u2 -udfver102 -bootdata:1#pEF,e,bfw\efisys.bin media u2.iso"
    write_iso(parse_oscdimg_args(line.split(), cwd=kit.media.parent).request)
    _boot(kit.media.parent / "u2.iso", "uefi", uefi_marker, tmp_path)
