"""pebuild.iso.catalog checked against xorriso and pycdlib on ISOs pebuild, xorriso and pycdlib write.

Damaged catalogs (no key, a wrong checksum, sectors and images past the end, a catalog
cut short, random damage) must give FormatError, never a traceback or a hang.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
from pathlib import Path

import pycdlib
import pycdlib.eltorito
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iso_support import el_torito_report

from _helpers import format_error_line, require_tool
from pebuild.errors import FormatError
from pebuild.fat import efisys_image
from pebuild.iso import IsoRequest, write_iso
from pebuild.iso.catalog import ISO_SECTOR, PLATFORM_EFI, PLATFORM_X86, BootEntry, read_boot_catalog

#: xorriso -report_el_torito's names for the platform and the emulation
XORRISO_PLATFORM = {PLATFORM_X86: "BIOS", PLATFORM_EFI: "UEFI", 0x01: "PPC", 0x02: "Mac"}
XORRISO_EMUL = {0: "none", 1: "fd1.2", 2: "fd1.4", 3: "fd2.8", 4: "hd"}


def _ours(iso: Path) -> list[BootEntry]:
    with open(iso, "rb") as fh:
        catalog = read_boot_catalog(fh, path=iso)
    assert catalog is not None
    return list(catalog.entries)


def _as_xorriso(entry: BootEntry) -> list[str]:
    """One entry in the fields of an `El Torito boot img` row (N left out)."""
    return [
        XORRISO_PLATFORM[entry.platform],
        "y" if entry.bootable else "n",
        XORRISO_EMUL[entry.media_type],
        f"0x{entry.load_segment:04x}",
        f"0x{entry.system_type:02x}",
        str(entry.sector_count),
        str(entry.load_rba),
    ]


def _pycdlib_entries(catalog: pycdlib.eltorito.EltoritoBootCatalog) -> list[tuple[int, ...]]:
    """(platform, bootable, media, segment, system type, count, RBA) of every entry as pycdlib parsed them."""

    def row(platform: int, e: pycdlib.eltorito.EltoritoEntry) -> tuple[int, ...]:
        bootable = int(e.boot_indicator == 0x88)
        return (
            platform,
            bootable,
            e.boot_media_type,
            e.load_segment,
            e.system_type,
            e.sector_count,
            e.load_rba,
        )

    out = [row(catalog.validation_entry.platform_id, catalog.initial_entry)]
    for section in catalog.sections:
        out += [row(section.platform_id, e) for e in section.section_entries]
    return out


def _as_pycdlib(entry: BootEntry) -> tuple[int, ...]:
    return (
        entry.platform,
        int(entry.bootable),
        entry.media_type,
        entry.load_segment,
        entry.system_type,
        entry.sector_count,
        entry.load_rba,
    )


def _pycdlib_read(iso: Path) -> list[tuple[int, ...]]:
    reader = pycdlib.PyCdlib()
    reader.open(str(iso))
    try:
        return _pycdlib_entries(reader.eltorito_boot_catalog)
    finally:
        reader.close()


def _check_against_both(iso: Path) -> list[BootEntry]:
    require_tool("xorriso")
    ours = _ours(iso)
    assert [_as_xorriso(e) for e in ours] == [row[1:] for row in el_torito_report(iso)]
    assert [_as_pycdlib(e) for e in ours] == _pycdlib_read(iso)
    return ours


def test_catalogs_pebuild_writes(kit, tmp_path: Path) -> None:
    dual, uefi_only = tmp_path / "dual.iso", tmp_path / "uefi.iso"
    write_iso(IsoRequest(kit.media, dual, kit.bios, kit.uefi, timestamp=0))
    write_iso(IsoRequest(kit.media, uefi_only, None, kit.uefi, timestamp=0))
    entries = _check_against_both(dual)
    assert [(e.platform_name, e.bootable, e.section) for e in entries] == [("x86", True, 0), ("EFI", True, 1)]
    with open(dual, "rb") as fh:  # the image the EFI entry names is the efisys.bin we gave
        fh.seek(entries[1].offset)
        assert fh.read(kit.uefi.stat().st_size) == kit.uefi.read_bytes()
    assert [e.platform for e in _check_against_both(uefi_only)] == [PLATFORM_EFI]


def test_catalogs_xorriso_writes(tmp_path: Path) -> None:
    """BIOS no-emulation, two EFI images, a 1.44 MB floppy-emulation image, and the BIOS image again."""
    xorriso = require_tool("xorriso")
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    (root / "boot" / "bios.img").write_bytes(os.urandom(2048))
    (root / "boot" / "efi.img").write_bytes(efisys_image({"EFI/BOOT/BOOTX64.EFI": b"MZ x64"}))
    (root / "boot" / "efi2.img").write_bytes(efisys_image({"EFI/BOOT/BOOTAA64.EFI": b"MZ aa64"}) * 2)
    (root / "boot" / "floppy.img").write_bytes(efisys_image({"A.TXT": b"a"}))
    iso = tmp_path / "x.iso"
    subprocess.run(
        [xorriso, "-as", "mkisofs", "-quiet", "-o", str(iso), "-R", "-J", "-c", "boot/boot.cat",
         "-b", "boot/bios.img", "-no-emul-boot", "-boot-load-size", "4",
         "-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot",
         "-eltorito-alt-boot", "-e", "boot/efi2.img", "-no-emul-boot",
         "-eltorito-alt-boot", "-b", "boot/floppy.img",
         "-eltorito-alt-boot", "-b", "boot/bios.img", "-no-emul-boot", str(root)],
        check=True, capture_output=True,
    )  # fmt: skip
    entries = _check_against_both(iso)
    assert [(e.platform, e.media_type, e.section) for e in entries] == [
        (PLATFORM_X86, 0, 0),
        (PLATFORM_EFI, 0, 1),
        (PLATFORM_EFI, 0, 1),
        (PLATFORM_X86, 2, 2),
        (PLATFORM_X86, 0, 2),
    ]


def test_catalogs_pycdlib_writes_with_a_non_bootable_entry(tmp_path: Path) -> None:
    writer = pycdlib.PyCdlib()
    writer.new(joliet=3)
    images = {
        "/BIOS.IMG;1": os.urandom(4096),
        "/EFI.IMG;1": efisys_image({}),
        "/SPARE.IMG;1": os.urandom(2048),
    }
    for name, data in images.items():
        writer.add_fp(io.BytesIO(data), len(data), name)
    writer.add_eltorito("/BIOS.IMG;1", bootcatfile="/BOOT.CAT;1", boot_load_seg=0x07C0)
    writer.add_eltorito("/EFI.IMG;1", efi=True)
    writer.add_eltorito("/SPARE.IMG;1", efi=True, bootable=False)
    iso = tmp_path / "p.iso"
    writer.write(str(iso))
    writer.close()
    entries = _check_against_both(iso)
    assert [(e.bootable, e.load_segment) for e in entries] == [(True, 0x07C0), (True, 0), (False, 0)]


def test_a_catalog_over_two_sectors_reads_as_pycdlib_reads_it(tmp_path: Path) -> None:
    """El Torito 1.0 §2: the catalog has no length; 70 entries need a second sector."""
    iso = _synthetic_iso([(PLATFORM_EFI, 69)])
    entries = _ours_from_bytes(iso)
    assert len(entries) == 70 and entries[-1].load_rba == 40 + 69
    parsed = pycdlib.eltorito.EltoritoBootCatalog(None)
    sector = 20
    while not parsed.complete():
        parsed.parse(iso[sector * ISO_SECTOR : (sector + 1) * ISO_SECTOR])
        sector += 1
    assert sector == 22 and [_as_pycdlib(e) for e in entries] == _pycdlib_entries(parsed)


# ----------------------------------------------------------------------------- hostile catalogs


def _record(indicator: int, rba: int, count: int = 4) -> bytes:
    return struct.pack("<BBHBBHI20x", indicator, 0, 0, 0, 0, count, rba)


def _synthetic_iso(sections: list[tuple[int, int]], *, sectors: int = 200) -> bytearray:
    """Boot record at 17, catalog at 20: validation + initial entry, then (platform, entry count) sections."""
    image = bytearray(sectors * ISO_SECTOR)
    brvd = b"\x00CD001\x01" + b"EL TORITO SPECIFICATION".ljust(32, b"\0")
    image[17 * ISO_SECTOR : 17 * ISO_SECTOR + len(brvd)] = brvd
    struct.pack_into("<I", image, 17 * ISO_SECTOR + 0x47, 20)
    validation = bytearray(struct.pack("<BBH24sH2B", 1, 0, 0, b"pebuild test", 0, 0x55, 0xAA))
    struct.pack_into("<H", validation, 28, -sum(struct.unpack("<16H", validation)) & 0xFFFF)
    records = [bytes(validation), _record(0x88, 40)]
    rba = 41
    for n, (platform, count) in enumerate(sections):
        final = n == len(sections) - 1
        records.append(struct.pack("<BBH28x", 0x91 if final else 0x90, platform, count))
        for _ in range(count):
            records.append(_record(0x88, rba))
            rba += 1
    catalog = b"".join(records)
    image[20 * ISO_SECTOR : 20 * ISO_SECTOR + len(catalog)] = catalog
    return image


def _ours_from_bytes(image: bytes | bytearray) -> list[BootEntry]:
    catalog = read_boot_catalog(io.BytesIO(bytes(image)), path="t.iso")
    assert catalog is not None
    return list(catalog.entries)


def _damaged(image: bytes | bytearray) -> str:
    return format_error_line(lambda: read_boot_catalog(io.BytesIO(bytes(image)), path="bad.iso"), "bad.iso")


def test_no_boot_record_is_none_not_an_error() -> None:
    assert read_boot_catalog(io.BytesIO(b""), path="x") is None
    assert read_boot_catalog(io.BytesIO(bytes(40 * ISO_SECTOR)), path="x") is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b.__setitem__(slice(20 * 2048 + 30, 20 * 2048 + 32), b"\0\0"), "no validation entry"),
        (lambda b: b.__setitem__(20 * 2048 + 4, 0x41), "checksum is wrong"),
        (lambda b: struct.pack_into("<I", b, 17 * 2048 + 0x47, 10_000), "sector 10000 is past the end"),
        (lambda b: struct.pack_into("<I", b, 20 * 2048 + 64 + 32 + 8, 999_999), "points to sector 999999"),
        (lambda b: b.__setitem__(20 * 2048 + 64 + 32, 0x77), "is not a boot entry"),
        (lambda b: struct.pack_into("<H", b, 20 * 2048 + 64 + 2, 0xFFFF), "cut off after 16 sectors"),
    ],
    ids=["key", "checksum", "catalog-lba", "image-lba", "indicator", "endless-section"],
)
def test_damaged_catalogs_are_format_errors(damage, message: str) -> None:
    image = _synthetic_iso([(PLATFORM_EFI, 2)])
    assert len(_ours_from_bytes(image)) == 3
    damage(image)
    assert message in _damaged(image)


def test_a_catalog_cut_short_by_the_end_of_the_image() -> None:
    image = _synthetic_iso([(PLATFORM_EFI, 80)], sectors=21)  # the second catalog sector is missing
    assert "cut off after 1 sectors" in _damaged(image)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5 * 32 - 1), st.integers(0, 255)), max_size=10))
def test_random_damage_gives_format_errors_only(damage: list[tuple[int, int]]) -> None:
    image = _synthetic_iso([(PLATFORM_X86, 1), (PLATFORM_EFI, 2)], sectors=60)
    for pos, value in damage:
        image[20 * ISO_SECTOR + pos] = value
    try:
        for entry in _ours_from_bytes(image):
            assert entry.load_rba < 60
    except FormatError as exc:
        assert "\n" not in str(exc)
