"""The USB image really boots: SeaBIOS through our MBR + FAT32 VBR into \\bootmgr, OVMF into BOOTX64.EFI.

Layouts and firmware (docs/usb.md): mbr boots under SeaBIOS and OVMF, gpt under OVMF.

\\bootmgr here is the sample's bootmgr_program (bootmgr.asm + the sample BIOS program): it only prints
its marker if our boot sector loaded the whole file at 2000:0000 and jumped there with DL=80h.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from usb_support import make_media

from _helpers import require_tool
from pebuild.qemu import SmokeRequest, smoke
from pebuild.usb import UsbRequest, write_usb_image

MIB = 1 << 20
pytestmark = pytest.mark.smoke


def _markers() -> tuple[str, str]:
    token = secrets.token_hex(4)  # unique per run: a stale log or cached image cannot pass
    return f"PEBUILD-SAMPLE bootmgr-{token}", f"PEBUILD-SAMPLE bootx64.efi-{token}"


@pytest.mark.parametrize(
    ("table", "size", "crowded"),
    [
        ("mbr", 40 * MIB, False),  # 512-byte clusters
        # 8 KiB clusters, a 460 KB bootmgr over many clusters, a root directory of several clusters
        ("mbr", 9 << 30, True),
    ],
)
def test_usb_bios_boot_loads_bootmgr(tmp_path: Path, table: str, size: int, crowded: bool) -> None:
    require_tool("qemu-system-x86_64")
    bios_marker, uefi_marker = _markers()
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker)
    if crowded:
        bootmgr = media / "bootmgr"
        bootmgr.write_bytes(bootmgr.read_bytes().ljust(460_000, b"\xcc"))
        for i in range(300):  # sorted before bootmgr: the VBR must follow the root directory's chain
            (media / f"aaa root file {i:03d}.txt").write_bytes(b"x" * 100)
    image = tmp_path / "bios.img"
    write_usb_image(UsbRequest(media, image, size=size, table=table))
    result = smoke(SmokeRequest(image, firmware="bios", expect=[f"{bios_marker} dl=80"]))
    assert result.ok, result.reason


def test_usb_uefi_boot_via_cli(tmp_path: Path, run_pebuild) -> None:
    """The issue's check: `pebuild smoke OUT.img --firmware uefi` runs the bootx64.efi stand-in."""
    require_tool("qemu-system-x86_64")
    bios_marker, uefi_marker = _markers()
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker)
    image = tmp_path / "uefi.img"
    run_pebuild("usb", str(media), str(image), "--size", "40M", check=True)
    proc = run_pebuild("smoke", str(image), "--firmware", "uefi", "--expect", uefi_marker)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_usb_uefi_boot_gpt_esp(tmp_path: Path) -> None:
    """GPT with an exFAT data partition after the ESP: OVMF still finds BOOTX64.EFI on the ESP."""
    require_tool("qemu-system-x86_64")
    bios_marker, uefi_marker = _markers()
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker)
    image = tmp_path / "gpt.img"
    write_usb_image(UsbRequest(media, image, size=80 * MIB, table="gpt", data_size=32 * MIB))
    result = smoke(SmokeRequest(image, firmware="uefi", expect=[uefi_marker]))
    assert result.ok, result.reason


def test_usb_mbr_with_ntfs_data_partition_boots_bios_and_uefi(tmp_path: Path) -> None:
    """The documented "BIOS and UEFI" layout with a second (NTFS) partition boots under both."""
    require_tool("qemu-system-x86_64")
    bios_marker, uefi_marker = _markers()
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker)
    image = tmp_path / "mbr-data.img"
    write_usb_image(UsbRequest(media, image, table="mbr", data_size=32 * MIB, data_fs="ntfs"))
    for firmware, marker in (("bios", f"{bios_marker} dl=80"), ("uefi", uefi_marker)):
        result = smoke(SmokeRequest(image, firmware=firmware, expect=[marker]))
        assert result.ok, f"{firmware}: {result.reason}"
