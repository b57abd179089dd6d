"""Damaged media never crash smoke's detection, and `pebuild check` says what is wrong on one line.

Both read media through pebuild.iso.catalog, pebuild.usb.partitions and pebuild.fat.reader;
their FormatErrors become evidence for smoke (which then keeps its old defaults) and the
one-line error of `pebuild check`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from _helpers import assert_one_line_error
from pebuild.fat import efisys_image, make_fat_image
from pebuild.qemu import SmokeRequest
from pebuild.qemu.detect import detect_media, resolve_media
from pebuild.usb._table import MbrEntry, mbr_sector

SECTOR = 512
ISO_SECTOR = 2048


def _iso(efi_image: bytes, *, efi_rba: int = 40, sectors: int = 2000) -> bytes:
    """Boot record at 17, catalog at 20 (x86 BIOS entry, one EFI section entry), the EFI image at `efi_rba`."""
    image = bytearray(sectors * ISO_SECTOR)
    image[0x8001:0x8006] = b"CD001"
    record = b"\x00CD001\x01" + b"EL TORITO SPECIFICATION".ljust(32, b"\0")
    image[17 * ISO_SECTOR : 17 * ISO_SECTOR + len(record)] = record
    struct.pack_into("<I", image, 17 * ISO_SECTOR + 0x47, 20)
    validation = bytearray(struct.pack("<BBH24sH2B", 1, 0, 0, b"", 0, 0x55, 0xAA))
    struct.pack_into("<H", validation, 28, -sum(struct.unpack("<16H", validation)) & 0xFFFF)
    catalog = (
        bytes(validation)
        + struct.pack("<BBHBBHI20x", 0x88, 0, 0x7C0, 0, 0, 4, 30)
        + struct.pack("<BBH28x", 0x91, 0xEF, 1)
        + struct.pack("<BBHBBHI20x", 0x88, 0, 0, 0, 0, min(len(efi_image) // SECTOR, 0xFFFF), efi_rba)
    )
    image[20 * ISO_SECTOR : 20 * ISO_SECTOR + len(catalog)] = catalog
    start = 40 * ISO_SECTOR
    image[start : start + len(efi_image)] = efi_image
    return bytes(image)


def _disk(fat: bytes) -> bytes:
    """An MBR with boot code and one active FAT32 (LBA) partition at LBA 2048 holding `fat`."""
    mbr = mbr_sector(b"\xfa\xeb\xfe", 0x1234, [MbrEntry(True, 0x0C, 2048, len(fat) // SECTOR)])
    return mbr + bytes(2047 * SECTOR) + fat


def _loop_root_dir(fat: bytes) -> bytes:
    """FAT32: the root directory's cluster points to itself in both FATs."""
    image = bytearray(fat)
    reserved, fats = struct.unpack_from("<HB", image, 14)
    fat_sectors, root = struct.unpack_from("<I", image, 36)[0], struct.unpack_from("<I", image, 44)[0]
    for n in range(fats):
        struct.pack_into("<I", image, (reserved + n * fat_sectors) * SECTOR + root * 4, root)
    return bytes(image)


@pytest.fixture(scope="module")
def efisys() -> bytes:
    return efisys_image({"EFI/BOOT/BOOTX64.EFI": b"MZ x64"})


@pytest.fixture(scope="module")
def esp32() -> bytes:
    return make_fat_image({"EFI/BOOT/BOOTX64.EFI": b"MZ x64"}, size=34 << 20, fat_type=32)


def test_a_sound_synthetic_iso_and_disk_are_detected(tmp_path: Path, efisys: bytes, esp32: bytes) -> None:
    """The baseline the damaged cases below start from."""
    iso, disk = tmp_path / "ok.iso", tmp_path / "ok.img"
    iso.write_bytes(_iso(efisys))
    disk.write_bytes(_disk(esp32))
    for path, kind in ((iso, "iso"), (disk, "disk")):
        profile = detect_media(path, kind)
        assert profile.bios and profile.uefi_arches == ["amd64"], profile.evidence


@pytest.mark.parametrize("case", ["catalog-checksum", "image-past-the-end", "efi-image-loops"])
def test_damaged_isos_are_evidence_not_crashes(
    tmp_path: Path, efisys: bytes, esp32: bytes, case: str
) -> None:
    iso = tmp_path / "bad.iso"
    if case == "catalog-checksum":
        data = bytearray(_iso(efisys))
        data[20 * ISO_SECTOR + 4] ^= 1
        iso.write_bytes(bytes(data))
        expected = "unreadable El Torito boot catalog: El Torito validation entry checksum is wrong"
    elif case == "image-past-the-end":
        iso.write_bytes(_iso(efisys, efi_rba=99_999))
        expected = "unreadable El Torito boot catalog: El Torito entry 2 (EFI) points to sector 99999"
    else:
        iso.write_bytes(_iso(_loop_root_dir(esp32), sectors=40 + len(esp32) // ISO_SECTOR))
        expected = "damaged FAT volume at byte 81920: cluster chain from 2 loops back to cluster 2"
    profile = detect_media(iso, "iso")
    assert not profile.uefi_arches and any(e.startswith(expected) for e in profile.evidence), profile.evidence
    req, _ = resolve_media(SmokeRequest(iso), "iso")
    assert req.firmware == "bios"


@pytest.mark.parametrize("case", ["boot-indicator", "fat-loops"])
def test_damaged_disks_are_evidence_not_crashes(tmp_path: Path, esp32: bytes, case: str) -> None:
    disk = tmp_path / "bad.img"
    data = bytearray(_disk(esp32 if case == "boot-indicator" else _loop_root_dir(esp32)))
    if case == "boot-indicator":
        data[446] = 0x7F
        expected = "unreadable partition table: MBR entry 1: boot indicator 0x7f"
    else:
        expected = "damaged FAT volume at byte 1048576: cluster chain from 2 loops back"
    disk.write_bytes(bytes(data))
    profile = detect_media(disk, "disk")
    assert not profile.uefi_arches and any(e.startswith(expected) for e in profile.evidence), profile.evidence


def test_check_on_a_damaged_usb_image_is_one_line(tmp_path: Path, esp32: bytes, run_pebuild) -> None:
    disk = tmp_path / "loop.img"
    disk.write_bytes(_disk(_loop_root_dir(esp32)))
    proc = run_pebuild("check", str(disk))
    assert_one_line_error(proc, 5)
    assert f"{disk}@1048576: cluster chain from 2 loops back to cluster 2" in proc.stderr
    cut = tmp_path / "cut.img"
    cut.write_bytes(_disk(esp32)[: 2048 * SECTOR + 40_000])
    proc = run_pebuild("check", str(cut))
    assert_one_line_error(proc, 5)
    assert "FAT volume truncated" in proc.stderr
