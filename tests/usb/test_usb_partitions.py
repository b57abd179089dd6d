"""pebuild.usb.partitions checked against sfdisk on MBR, GPT and hybrid tables pebuild and sfdisk write.

The MBR rules (mbr_rule_problems): what pebuild writes is a legacy MBR or a protective
MBR exactly as UEFI 2.10 §5.2.3 says; a hybrid MBR (what Windows' boot library refuses
under UEFI with 0xc00000bb), a short protective entry, an active one, overlaps and two
active partitions are each named.

Damaged tables (a bad boot indicator, partitions and arrays past the end, GPT headers
and arrays whose CRC32 fails, with and without a good backup, random damage) must give
FormatError or the backup's table, never a traceback or a hang.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import uuid
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from usb_support import make_media

from _helpers import format_error_line, require_tool
from pebuild.errors import FormatError
from pebuild.usb import UsbRequest, write_usb_image
from pebuild.usb._table import MbrEntry, mbr_sector
from pebuild.usb.partitions import ESP_TYPE, DiskLayout, mbr_rule_problems, read_partitions

MIB = 1 << 20


def _sfdisk(image: Path, *extra: str) -> dict:
    sfdisk = require_tool("sfdisk")
    proc = subprocess.run([sfdisk, "--json", *extra, str(image)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)["partitiontable"]


def _make_with_sfdisk(image: Path, script: str, *extra: str) -> Path:
    """Run sfdisk's `script` on `image`, a blank 64 MiB file when it does not exist yet."""
    sfdisk = require_tool("sfdisk")
    if not image.exists():
        image.write_bytes(bytes(64 * MIB))
    subprocess.run(
        [sfdisk, "-q", *extra, str(image)], input=script, text=True, check=True, capture_output=True
    )
    return image


def _ours(image: Path) -> DiskLayout:
    with open(image, "rb") as fh:
        layout = read_partitions(fh, path=image)
    assert layout is not None
    return layout


def _mbr_as_sfdisk(layout: DiskLayout) -> tuple[str, list[dict]]:
    parts = []
    for e in layout.mbr:
        if e.type:
            row: dict = {"start": e.start_lba, "size": e.sectors, "type": f"{e.type:x}"}
            if e.bootable:
                row["bootable"] = True
            parts.append(row)
    return f"0x{layout.disk_signature:08x}", parts


def _gpt_as_sfdisk(layout: DiskLayout) -> tuple[str, list[dict]]:
    assert layout.gpt is not None and layout.disk_guid is not None
    parts = [
        {
            "number": n,
            "start": p.first_lba,
            "size": p.last_lba - p.first_lba + 1,
            "type": str(p.type_guid).upper(),
            "uuid": str(p.unique_guid).upper(),
            **({"name": p.name} if p.name else {}),
        }
        for n, p in layout.gpt
    ]
    return str(layout.disk_guid).upper(), parts


def _sfdisk_rows(table: dict) -> tuple[str, list[dict]]:
    rows = []
    for p in table.get("partitions", []):
        row = {k: v for k, v in p.items() if k not in ("node", "attrs")}
        if table["label"] == "gpt":
            row["number"] = int(p["node"].removeprefix(table["device"]))
        rows.append(row)
    return table["id"], rows


def _check_against_sfdisk(image: Path) -> DiskLayout:
    ours = _ours(image)
    if ours.gpt is None:
        assert _mbr_as_sfdisk(ours) == _sfdisk_rows(_sfdisk(image))
    else:
        assert _gpt_as_sfdisk(ours) == _sfdisk_rows(_sfdisk(image))
        assert _mbr_as_sfdisk(ours) == _sfdisk_rows(_sfdisk(image, "--label-nested", "dos"))
    return ours


BASIC_DATA = uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")


@pytest.mark.parametrize(("table", "data"), [("mbr", None), ("gpt", None), ("mbr", "exfat"), ("gpt", "ntfs")])
def test_tables_pebuild_writes(tmp_path: Path, table: str, data: str | None) -> None:
    image = tmp_path / f"{table}.img"
    req = UsbRequest(make_media(tmp_path), image, size=80 * MIB, table=table, timestamp=0)
    if data:
        req = UsbRequest(
            req.media_dir, image, size=80 * MIB, table=table, timestamp=0, data_size=8 * MIB, data_fs=data
        )
    write_usb_image(req)
    layout = _check_against_sfdisk(image)
    assert layout.has_boot_code
    assert mbr_rule_problems(layout, image.stat().st_size // 512) == []
    if table == "gpt":
        want = [ESP_TYPE, BASIC_DATA] if data else [ESP_TYPE]
        assert layout.gpt is not None and [p.type_guid for _, p in layout.gpt] == want
        assert [e.type for e in layout.mbr] == [0xEE, 0, 0, 0]  # protective only: no hybrid entries
    else:
        assert [e.type for e in layout.mbr] == ([0x0C, 0x07, 0, 0] if data else [0x0C, 0, 0, 0])
        assert [e.bootable for e in layout.mbr][:2] == [True, False]


def _layout(entries: list[MbrEntry]) -> DiskLayout:
    """Sector 0 with these entries, as the reader parses it (no GPT needed for the MBR rules)."""
    sector = mbr_sector(b"", 0x1234, entries)
    slots = [struct.unpack_from("<B3xB3xII", sector, 446 + 16 * i) for i in range(4)]
    mbr = tuple(MbrEntry(status == 0x80, ptype, start, count) for status, ptype, start, count in slots)
    return DiskLayout(sector[:440], 0x1234, mbr, None)


TOTAL = 64 * MIB // 512


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        # the layout `--table hybrid` used to write: 0xEE over the GPT structures plus the FAT32 entry
        (
            [MbrEntry(False, 0xEE, 1, 2047), MbrEntry(True, 0x0C, 2048, 20480)],
            "hybrid MBR: entries 2 (type 0x0c)",
        ),
        ([MbrEntry(False, 0xEE, 1, 2047)], "covers LBA 1 + 2047 sectors, not 1 + 131071"),
        ([MbrEntry(True, 0xEE, 1, TOTAL - 1)], "protective entry 1 is marked active"),
        ([MbrEntry(False, 0xEE, 2048, TOTAL - 2048)], "covers LBA 2048"),
        ([MbrEntry(True, 0x0C, 2048, 4096), MbrEntry(True, 0x07, 8192, 4096)], "more than one active"),
        ([MbrEntry(True, 0x0C, 2048, 8192), MbrEntry(False, 0x07, 8192, 4096)], "partitions 1 and 2 overlap"),
        ([MbrEntry(True, 0x0C, 2048, TOTAL)], "lies outside the disk"),
    ],
)
def test_mbr_rules_name_what_windows_and_uefi_refuse(entries: list[MbrEntry], problem: str) -> None:
    problems = mbr_rule_problems(_layout(entries), TOTAL)
    assert any(problem in p for p in problems), problems


def test_mbr_rules_accept_protective_and_legacy_mbrs() -> None:
    assert mbr_rule_problems(_layout([MbrEntry(False, 0xEE, 1, TOTAL - 1)]), TOTAL) == []
    big = 1 << 33  # 4 TiB in sectors: the protective entry is capped at 0xFFFFFFFF
    assert mbr_rule_problems(_layout([MbrEntry(False, 0xEE, 1, 0xFFFFFFFF)]), big) == []
    legacy = [MbrEntry(True, 0x0C, 2048, 8192), MbrEntry(False, 0x07, 10240, 4096)]
    assert mbr_rule_problems(_layout(legacy), TOTAL) == []


def test_an_sfdisk_hybrid_mbr_breaks_the_rules(tmp_path: Path) -> None:
    """gdisk/sfdisk-style hybrid (0xEE + an active ESP entry): read fine, and named as hybrid."""
    image = _make_with_sfdisk(tmp_path / "h.img", "label: gpt\nstart=2048, size=20480, type=uefi\n")
    _make_with_sfdisk(
        image,
        "label: dos\nstart=1, size=2047, type=ee\nstart=2048, size=20480, type=ef, bootable\n",
        "--label-nested",
        "dos",
    )
    with open(image, "rb") as fh:
        layout = read_partitions(fh, path=image)
    assert layout is not None
    assert any(p.startswith("hybrid MBR") for p in mbr_rule_problems(layout, image.stat().st_size // 512))


def test_an_mbr_sfdisk_writes(tmp_path: Path) -> None:
    image = _make_with_sfdisk(
        tmp_path / "mbr.img",
        "label: dos\nlabel-id: 0x12345678\n"
        "start=2048, size=20480, type=c, bootable\nsize=10000, type=83\nsize=8192, type=7\n",
    )
    layout = _check_against_sfdisk(image)
    assert not layout.has_boot_code and layout.gpt is None
    assert [e.type for e in layout.mbr] == [0x0C, 0x83, 0x07, 0]


def test_a_gpt_and_a_hybrid_mbr_sfdisk_writes(tmp_path: Path) -> None:
    """Entry 2 left empty (numbers keep their slots), names, and a nested MBR with an active ESP entry."""
    image = _make_with_sfdisk(
        tmp_path / "gpt.img",
        "label: gpt\nlabel-id: 01234567-89AB-CDEF-0123-456789ABCDEF\n"
        'start=2048, size=20480, type=uefi, name="EFI system"\n'
        'gpt.img3: start=40960, size=20480, type=linux, name="data part ü"\n'
        "gpt.img4: start=61440, size=4096, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\n",
    )
    layout = _check_against_sfdisk(image)
    assert layout.gpt is not None and [n for n, _ in layout.gpt] == [1, 3, 4]
    _make_with_sfdisk(
        image,
        "label: dos\nstart=1, size=2047, type=ee\nstart=2048, size=20480, type=ef, bootable\n",
        "--label-nested",
        "dos",
    )
    hybrid = _check_against_sfdisk(image)
    assert hybrid.gpt == layout.gpt and [(e.type, e.bootable) for e in hybrid.mbr[:2]] == [
        (0xEE, False),
        (0xEF, True),
    ]


# ----------------------------------------------------------------------------- hostile tables


def _gpt_image(tmp_path: Path) -> tuple[Path, bytearray]:
    image = tmp_path / "g.img"
    write_usb_image(UsbRequest(make_media(tmp_path), image, size=40 * MIB, table="gpt", timestamp=0))
    return image, bytearray(image.read_bytes())


def _reseal(image: bytearray, lba: int) -> None:
    """Recompute the GPT header CRC32 at `lba` (UEFI 2.10 §5.3.2: over HeaderSize bytes, its field zeroed)."""
    base = lba * 512
    (size,) = struct.unpack_from("<I", image, base + 12)
    struct.pack_into("<I", image, base + 16, 0)
    struct.pack_into("<I", image, base + 16, zlib.crc32(image[base : base + size]))


def _reseal_array(image: bytearray, lba: int) -> None:
    array_lba, count, size = struct.unpack_from("<QII", image, lba * 512 + 72)
    array = image[array_lba * 512 : array_lba * 512 + count * size]
    struct.pack_into("<I", image, lba * 512 + 88, zlib.crc32(array))
    _reseal(image, lba)


def _damaged(image: bytes | bytearray) -> str:
    return format_error_line(lambda: read_partitions(io.BytesIO(bytes(image)), path="bad.img"), "bad.img")


def test_no_signature_is_none_not_an_error() -> None:
    assert read_partitions(io.BytesIO(b""), path="x") is None
    assert read_partitions(io.BytesIO(bytes(4096)), path="x") is None


def test_a_bad_boot_indicator_or_a_partition_past_the_end(tmp_path: Path) -> None:
    _, image = _gpt_image(tmp_path)
    bad = bytearray(image)
    bad[446] = 0x12
    assert "boot indicator 0x12" in _damaged(bad)
    bad = bytearray(image)
    struct.pack_into("<I", bad, 446 + 8, len(image) // 512 + 5)
    assert "outside the image" in _damaged(bad)


def test_a_broken_primary_gpt_falls_back_to_the_backup_as_sfdisk_does(tmp_path: Path) -> None:
    path, image = _gpt_image(tmp_path)
    good = _ours(path)
    image[512 + 30] ^= 0xFF  # primary header CRC now wrong
    path.write_bytes(image)
    assert _ours(path).gpt == good.gpt
    assert _gpt_as_sfdisk(_ours(path)) == _sfdisk_rows(_sfdisk(path))  # libfdisk: "backup appears OK"
    last = len(image) // 512 - 1
    image[last * 512 + 30] ^= 0xFF
    assert "GPT: primary header CRC32 is wrong" in _damaged(image)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (84, 0, "entry size 0"),
        (80, 1 << 20, "exceed"),
        (72, 1 << 40, "outside the image"),
        (24, 7, "says it is at LBA 7"),
        (12, 600, "header size 600"),
    ],
    ids=["entry-size", "entry-count", "array-lba", "my-lba", "header-size"],
)
def test_gpt_headers_that_cannot_be_right(tmp_path: Path, field: int, value: int, message: str) -> None:
    """Each header field damaged with its CRC32 resealed, in primary and backup alike."""
    _, image = _gpt_image(tmp_path)
    last = len(image) // 512 - 1
    for lba in (1, last):
        fmt = "<Q" if field in (24, 72) else "<I"
        struct.pack_into(fmt, image, lba * 512 + field, value if lba == 1 or field != 24 else value + 1)
        if field != 12:
            _reseal(image, lba)
    assert message in _damaged(image)


def test_gpt_entries_outside_the_disk_and_broken_arrays(tmp_path: Path) -> None:
    _, image = _gpt_image(tmp_path)
    last = len(image) // 512 - 1
    for lba in (1, last):
        (array_lba,) = struct.unpack_from("<Q", image, lba * 512 + 72)
        struct.pack_into("<Q", image, array_lba * 512 + 40, 1 << 40)  # entry 1's last LBA
        _reseal_array(image, lba)
    assert "entry 1: LBAs 2048.." in _damaged(image)
    for lba in (1, last):
        (array_lba,) = struct.unpack_from("<Q", image, lba * 512 + 72)
        image[array_lba * 512 + 5] ^= 1  # no reseal: the array CRC32 fails
    assert "entry array CRC32 is wrong" in _damaged(image)


def test_images_cut_short(tmp_path: Path) -> None:
    _, image = _gpt_image(tmp_path)
    assert "MBR partition 1 starts at LBA 1, outside the image (1 sectors)" in _damaged(image[:512])
    assert "lies outside the image" in _damaged(image[:1024])
    assert "outside the image" in _damaged(image[: 100 * 512])  # the partition starts at 2048


def _fuzz_base() -> bytearray:
    """A protective MBR + a GPT with two entries on a 1 MiB disk (made here, by struct)."""
    image = bytearray(512 * 2048)
    total = len(image) // 512
    struct.pack_into("<B3sB3sII", image, 446, 0, b"\0\2\0", 0xEE, b"\xff\xff\xff", 1, total - 1)
    image[510:512] = b"\x55\xaa"
    for n, first in enumerate((40, 100)):
        struct.pack_into(
            "<16s16sQQQ72s", image, 2 * 512 + n * 128, ESP_TYPE.bytes_le, uuid.UUID(int=n + 1).bytes_le,
            first, first + 9, 0, "part".encode("utf-16-le"),
        )  # fmt: skip
    header = struct.pack(
        "<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, 1, total - 1, 34, total - 34,
        uuid.UUID(int=9).bytes_le, 2, 128, 128, 0,
    )  # fmt: skip
    image[512 : 512 + 92] = header
    _reseal_array(image, 1)
    return image


_FUZZ_BASE = _fuzz_base()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(446, 1024 + 300), st.integers(0, 255)), max_size=10), st.booleans())
def test_random_damage_gives_format_errors_only(damage: list[tuple[int, int]], reseal: bool) -> None:
    """The MBR entries, the GPT header (CRC32 resealed or not) and the first entries overwritten at random."""
    image = bytearray(_FUZZ_BASE)
    assert _FUZZ_BASE[512:520] == b"EFI PART"
    for pos, value in damage:
        image[pos] = value
    if reseal:
        size = struct.unpack_from("<I", image, 512 + 12)[0]
        if 92 <= size <= 512:
            _reseal_array(image, 1)
    try:
        layout = read_partitions(io.BytesIO(bytes(image)), path="f.img")
        for _, part in layout.gpt or () if layout else ():
            assert part.first_lba <= part.last_lba < 2048
    except FormatError as exc:
        assert "\n" not in str(exc)
