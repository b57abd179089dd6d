"""Names compare as Windows compares them: upper-cased per UTF-16 unit with Windows' own table.

The oracle for the table is the NTFS $UpCase file mkntfs writes (the table of
RtlUpcaseUnicodeChar, read back with ntfscat, see hive_check.py); the oracle for order
and hashes is every subkey list Windows wrote in the real fixture hives.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hive_check import lh_hash as independent_lh_hash
from hive_check import upper_units, windows_upcase_table

from _helpers import BCD_FIXTURES, HIVE_FIXTURES, hive_fixture, require_tool
from pebuild.hive import Hive, RegType, check_image, save_hive, serialize_hive, upcase
from pebuild.hive.upcase import lh_hash, upcase_unit

LOWER, UPPER = "\U00010438", "\U00010410"  # DESERET SMALL/CAPITAL LONG I: two keys to Windows


def test_table_is_windows_upcase_table() -> None:
    require_tool("mkntfs")
    require_tool("ntfscat")
    table = windows_upcase_table()
    assert table is not None
    ours = [upcase_unit(u) for u in range(65536)]
    assert [u for u in range(65536) if ours[u] != table[u]] == []


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (LOWER, UPPER),  # outside the BMP: surrogates are not upper-cased
        ("ı", "I"),  # dotless i: Python upper-cases it to I, Windows does not
        ("ǅ", "Ǆ"),  # titlecase digraph
        ("ς", "Σ"),  # final sigma
        ("ß", "SS"),
        ("ა", "Ა"),  # Georgian: Mtavruli (Unicode 11) is not in Windows' table
    ],
)
def test_distinct_to_windows(a: str, b: str, tmp_path: Path) -> None:
    from hive_check import hivex_values

    require_tool("hivexregedit")
    assert upcase(a) != upcase(b)
    hive = Hive.new(minor=5)
    hive.root.create(a).set_value("which", RegType.SZ, "a")
    hive.root.create(b).set_value("which", RegType.SZ, "b")
    assert len(hive.root.subkeys) == 2
    assert hive.root.subkey(a).get_value("which").as_python() == "a"
    assert hive.root.subkey(b).get_value("which").as_python() == "b"
    back = Hive.parse(serialize_hive(hive, timestamp=0))
    assert {k.name for k in back.root.subkeys} == {a, b}
    save_hive(hive, tmp_path / "h", timestamp=0)
    assert hivex_values(tmp_path / "h") == {
        "": {},
        a: {"which": (RegType.SZ, "a\0".encode("utf-16-le"))},
        b: {"which": (RegType.SZ, "b\0".encode("utf-16-le"))},
    }


def test_same_to_windows() -> None:
    hive = Hive.new(minor=5)
    key = hive.root.create("Ärger")
    assert hive.root.subkey("äRGER") is key and hive.root.create("ÄRGER") is key
    assert hive.root.subkey("ÿ") is None and hive.root.create("ÿ").name == "ÿ"
    assert hive.root.subkey("Ÿ") is not None  # U+00FF -> U+0178 in Windows' table too


def test_outside_the_bmp_lookup_delete_create(tmp_path: Path) -> None:
    require_tool("hivexregedit")
    hive = Hive.new(minor=5)
    low = hive.root.create(LOWER)
    up = hive.root.create(UPPER)
    assert low is not up
    assert hive.root.subkey(LOWER) is low and hive.root.subkey(UPPER) is up
    hive.root.create("\uff21")  # FULLWIDTH A: after every surrogate pair in unit order, before in code points
    out = tmp_path / "h"
    save_hive(hive, out, timestamp=0)
    back = Hive.open(out)
    assert [k.name for k in back.root.subkeys] == [UPPER, LOWER, "\uff21"]  # D801 DC10 < D801 DC38 < FF21
    data = out.read_bytes()
    root = struct.unpack_from("<I", data, 36)[0]
    sublist = struct.unpack_from("<I", data, 4096 + root + 4 + 0x1C)[0]
    pos = 4096 + sublist + 4
    assert data[pos : pos + 2] == b"lh"
    hashes = [struct.unpack_from("<I", data, pos + 8 + 8 * i)[0] for i in range(3)]
    assert hashes == [(0xD801 * 37 + 0xDC10), (0xD801 * 37 + 0xDC38), 0xFF21]
    back.root.delete_subkey(UPPER)
    assert [k.name for k in back.root.subkeys] == [LOWER, "\uff21"]
    save_hive(back, out, mode="preserve", timestamp=0)
    from hive_check import hivex_view

    assert set(hivex_view(out)) == {"", LOWER, "\uff21"}


def test_lh_hash_examples() -> None:
    assert lh_hash("Objects") == 0x4AAE45EE and lh_hash("Description") == 0xCEC53364
    assert lh_hash("Elements") == 0xA8E7AE39 and lh_hash("") == 0
    for name in ("ControlSet001", "ǅ", LOWER + "x", "ünïcødé", "a" * 300):
        assert lh_hash(name) == independent_lh_hash(name)


def _fixture_names() -> list[str]:
    if not HIVE_FIXTURES.is_dir():
        return []
    skip = (
        "yarp-TruncatedHive",
        "yarp-BadListHive",
    )  # unreadable by design (tests/hive/test_hive_fixtures.py)
    return sorted(
        p.name
        for p in HIVE_FIXTURES.iterdir()
        if p.is_file()
        and p.name not in skip
        and not p.name.endswith((".md", ".txt", ".xz"))
        and ".LOG" not in p.name.upper()
    ) + sorted(f"bcd/{p.name}" for p in BCD_FIXTURES.glob("*.bcd"))


def _lists_in_windows_order(data: bytes) -> int:
    """Walk every subkey list with plain struct; assert each is strictly ascending by Windows'
    upper-cased units and every lh hash is the independent one. Returns lists checked."""
    root = struct.unpack_from("<I", data, 36)[0]
    checked = 0
    stack = [root]
    while stack:
        nk = 4096 + stack.pop() + 4
        count, sublist = struct.unpack_from("<I4xI", data, nk + 0x14)
        if not count:
            continue
        leaves = [sublist]
        pos = 4096 + sublist + 4
        if data[pos : pos + 2] == b"ri":
            n = struct.unpack_from("<H", data, pos + 2)[0]
            leaves = list(struct.unpack_from(f"<{n}I", data, pos + 4))
        previous = None
        for leaf in leaves:
            pos = 4096 + leaf + 4
            sig, n = struct.unpack_from("<2sH", data, pos)
            width = 4 if sig == b"li" else 8
            for i in range(n):
                child = struct.unpack_from("<I", data, pos + 4 + width * i)[0]
                extra = struct.unpack_from("<I", data, pos + 8 + width * i)[0] if width == 8 else None
                cpos = 4096 + child + 4
                flags, length = (
                    struct.unpack_from("<H", data, cpos + 2)[0],
                    struct.unpack_from("<H", data, cpos + 72)[0],
                )
                raw = data[cpos + 76 : cpos + 76 + length]
                name = raw.decode("latin-1") if flags & 0x20 else raw.decode("utf-16-le", "surrogatepass")
                units = upper_units(name)
                assert previous is None or units > previous, f"{name!r} out of Windows' order"
                previous = units
                if sig == b"lh":
                    assert extra == independent_lh_hash(name), f"lh hash of {name!r}"
                stack.append(child)
            checked += 1
    return checked


@pytest.mark.parametrize("name", _fixture_names())
def test_every_fixture_list_is_in_windows_order(name: str, tmp_path: Path) -> None:
    """Windows wrote these lists: our order, our hashes and the independent ones must all agree."""
    path = BCD_FIXTURES / name[4:] if name.startswith("bcd/") else hive_fixture(name, tmp_path)
    hive = Hive.open(path, allow_dirty=True)  # dirty ones replayed from their logs where present
    assert hive._image is not None
    lists = _lists_in_windows_order(hive._image.data)
    assert lists > 0 or not hive.root.subkeys
    check_image(hive._image)  # pebuild's own order and hash check agrees
    for key in hive.root.walk():
        uppers = [c.upper for c in key._children()]
        assert uppers == sorted(uppers)
