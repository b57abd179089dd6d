"""The USB image really boots: SeaBIOS through our MBR + FAT32 VBR into \\bootmgr, OVMF into BOOTX64.EFI.

Layouts and firmware (docs/usb.md): mbr boots under SeaBIOS and OVMF, gpt under OVMF.

\\bootmgr here is the sample's bootmgr_program (bootmgr.asm): it only prints its marker if our boot
sector loaded the whole file at 2000:0000 (its length and Adler-32 match) and jumped there with DL=80h,
and then only with the facts of \\Boot\\BCD, boot.sdi and boot.wim as it read them from the FAT32
volume (smoke compares them with the image's files; bios_chain compares them with the source tree).
"""

from __future__ import annotations

import secrets
import struct
import subprocess
from pathlib import Path

import pytest
from usb_support import make_media

from _helpers import require_tool
from bios_chain import check_iso_line
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
    bootmgr_size = 460_000 if crowded else 8192
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker, bootmgr_size=bootmgr_size)
    if crowded:
        for i in range(300):  # sorted before bootmgr: the VBR must follow the root directory's chain
            (media / f"aaa root file {i:03d}.txt").write_bytes(b"x" * 100)
    image = tmp_path / "bios.img"
    write_usb_image(UsbRequest(media, image, size=size, table=table))
    log = tmp_path / "serial.log"
    result = smoke(SmokeRequest(image, firmware="bios", expect=[f"{bios_marker} bcd="], serial_log=log))
    assert result.ok, result.reason
    assert "loaded \\Boot\\BCD (winload.exe" in result.reason  # smoke compared with the image's FAT
    check_iso_line(log.read_text("latin-1"), media, bios_marker)  # and they are the source tree's files


def test_usb_bios_boot_without_the_bcd_fails(tmp_path: Path) -> None:
    """A stick without \\Boot\\BCD: bootmgr loads whole but cannot read its store, so no marker."""
    require_tool("qemu-system-x86_64")
    bios_marker, uefi_marker = _markers()
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker)
    (media / "Boot" / "BCD").unlink()
    image = tmp_path / "nobcd.img"
    write_usb_image(UsbRequest(media, image, size=40 * MIB, table="mbr"))
    log = tmp_path / "serial.log"
    verdict = smoke(SmokeRequest(image, firmware="bios", expect=[bios_marker], serial_log=log))
    assert not verdict.ok
    assert "pebuild-standin bootmgr: \\Boot\\BCD: not on the disk" in verdict.reason, verdict.reason
    assert bios_marker not in log.read_text("latin-1")


def _cut_chain_after_first_cluster(image: Path, offset: int, name: bytes) -> None:
    """End `name`'s FAT32 cluster chain after its first cluster, in every FAT (a damaged stick)."""
    with image.open("r+b") as fh:
        fh.seek(offset)
        bpb = fh.read(512)
        sector, per_cluster, reserved, fats = struct.unpack_from("<HBHB", bpb, 11)
        fat_sectors, root = struct.unpack_from("<I", bpb, 36)[0], struct.unpack_from("<I", bpb, 44)[0]
        fat_at = offset + reserved * sector
        data_at = fat_at + fats * fat_sectors * sector
        cluster_bytes = per_cluster * sector

        def next_cluster(cluster: int) -> int:
            fh.seek(fat_at + 4 * cluster)
            return struct.unpack("<I", fh.read(4))[0] & 0x0FFFFFFF

        cluster, first = root, None
        while first is None and cluster < 0x0FFFFFF8:
            fh.seek(data_at + (cluster - 2) * cluster_bytes)
            block = fh.read(cluster_bytes)
            for at in range(0, cluster_bytes, 32):
                if block[at : at + 11] == name:
                    hi, lo = (
                        struct.unpack_from("<H", block, at + 20)[0],
                        struct.unpack_from("<H", block, at + 26)[0],
                    )
                    first = hi << 16 | lo
            cluster = next_cluster(cluster)
        assert first is not None and next_cluster(first) < 0x0FFFFFF8  # found, and longer than one cluster
        for copy in range(fats):
            fh.seek(fat_at + copy * fat_sectors * sector + 4 * first)
            fh.write(struct.pack("<I", 0x0FFFFFFF))


def test_usb_bios_boot_with_bootmgr_cut_short_fails(tmp_path: Path) -> None:
    """BOOTMGR's FAT chain ends after its first cluster: the VBR loads 512 bytes and jumps, and the
    stand-in's whole-load check must turn that into a failed smoke instead of a marker."""
    require_tool("qemu-system-x86_64")
    fsck = require_tool("fsck.fat")
    bios_marker, uefi_marker = _markers()
    media = make_media(tmp_path, bios_marker=bios_marker, uefi_marker=uefi_marker, bootmgr_size=460_000)
    image = tmp_path / "cut.img"
    result = write_usb_image(UsbRequest(media, image, size=40 * MIB, table="mbr"))
    _cut_chain_after_first_cluster(image, result.partition_offset, b"BOOTMGR    ")
    # fsck.fat (reading a copy of the partition, no repair) sees the same damage
    part = tmp_path / "part.img"
    with image.open("rb") as src:
        src.seek(result.partition_offset)
        part.write_bytes(src.read())
    check = subprocess.run([fsck, "-n", str(part)], capture_output=True, text=True, timeout=60)
    assert "File size is 460000 bytes, cluster chain length is 512 bytes" in check.stdout, check.stdout
    log = tmp_path / "serial.log"
    verdict = smoke(SmokeRequest(image, firmware="bios", expect=[bios_marker], serial_log=log))
    assert not verdict.ok
    assert "pebuild-standin bootmgr: not loaded whole" in verdict.reason, verdict.reason
    assert bios_marker not in log.read_text("latin-1")


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
    for firmware, marker in (("bios", f"{bios_marker} bcd="), ("uefi", uefi_marker)):
        result = smoke(SmokeRequest(image, firmware=firmware, expect=[marker]))
        assert result.ok, f"{firmware}: {result.reason}"
