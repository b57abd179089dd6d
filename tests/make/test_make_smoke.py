"""Built ISOs boot under QEMU: the El Torito BIOS and UEFI images that pebuild put on the disc run.

Few and purposeful (TCG is slow): one amd64 BIOS + UEFI pair from one ISO, one x86 BIOS boot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _helpers import require_tool

sys.path.insert(0, str(Path(__file__).parents[1] / "source"))
import pebuild_test_kits as kits

from pebuild.make import BuildRequest, build

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


def _iso(tmp_path: Path, arch: str) -> Path:
    kit = kits.make_adk(tmp_path / "kit", arch, tmp_path)
    out = tmp_path / f"{arch}.iso"
    build(
        BuildRequest(
            arch=arch, recipe=REPO / "recipes" / "capture.toml", source=str(kit), output=out, timestamp=1
        )
    )
    return out


def _smoke(iso: Path, firmware: str, arch: str, expect: str) -> None:
    from pebuild.qemu import SmokeRequest, smoke

    result = smoke(SmokeRequest(media=iso, firmware=firmware, arch=arch, expect=[expect], timeout=90))
    assert result.ok, (result.reason, result.serial_log)
    assert expect in result.markers


def test_amd64_iso_boots_bios_and_uefi(tmp_path: Path) -> None:
    require_tool("qemu-system-x86_64")
    iso = _iso(tmp_path, "amd64")
    _smoke(iso, "bios", "amd64", "PEBUILD-SAMPLE bootmgr bcd=")  # etfsboot.com loaded it
    _smoke(iso, "uefi", "amd64", r"PEBUILD-SAMPLE bootx64\.efi fw=")  # efisys.bin, not efisys_noprompt.bin


def test_x86_iso_boots_bios(tmp_path: Path) -> None:
    require_tool("qemu-system-x86_64")
    _smoke(_iso(tmp_path, "x86"), "bios", "x86", "PEBUILD-SAMPLE bootmgr bcd=")


def test_usb_image_from_the_sample_source_boots_bios_and_uefi(tmp_path: Path) -> None:
    """`pebuild make --usb` on `--source sample`, MBR table (BIOS + UEFI): our MBR + FAT32 boot sector load the
    sample bootmgr (valid at 2000:0000) under SeaBIOS, and OVMF runs EFI/BOOT/BOOTX64.EFI, which is
    bootmgfw.efi as the ADK ships it (an ISO instead boots the El Torito efisys.bin's bootx64.efi)."""
    require_tool("qemu-system-x86_64")
    usb = tmp_path / "winpe.img"
    build(
        BuildRequest(
            arch="amd64",
            recipe=REPO / "recipes" / "rescue.toml",
            source="sample",
            output=None,
            usb_output=usb,
            usb_table="mbr",
            timestamp=1,
        )
    )
    _smoke(usb, "bios", "amd64", "PEBUILD-SAMPLE bootmgr")
    _smoke(usb, "uefi", "amd64", "PEBUILD-SAMPLE bootmgfw.efi")
