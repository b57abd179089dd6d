"""Hive.new / edit / serialize, checked by hivex, regipy and an independent structure walker."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hive_check import check_structure, hivex_tree, hivex_values, hivex_view, reg_data, regipy_classes

from _helpers import require_tool
from pebuild.errors import FormatError, UsageError
from pebuild.hive import Hive, RegType, Value, header_checksum, save_hive, serialize_hive
from pebuild.hive._structs import NK, SK, VK, BaseBlock, KeyNode, KeySecurity, KeyValue

SPEC: dict[str, dict[str, tuple[int, bytes]]] = {
    "": {},
    "Software": {},
    "Software\\Vendor": {
        "": (RegType.SZ, "default\x00".encode("utf-16-le")),
        "Name": (RegType.SZ, "pebuild\x00".encode("utf-16-le")),
        "Count": (RegType.DWORD, (7).to_bytes(4, "little")),
        "Big": (RegType.QWORD, (1 << 40).to_bytes(8, "little")),
        "List": (RegType.MULTI_SZ, "a\x00b\x00\x00".encode("utf-16-le")),
        "Empty": (RegType.BINARY, b""),
        "Odd": (0x1234, b"\x01\x02\x03"),
        "Blob": (RegType.BINARY, bytes(range(256)) * 80),
    },
    "ControlSet001\\Control\\MiniNT": {},
    "ControlSet001\\Control": {},
    "ControlSet001": {},
    "Ünïcødé ключ": {"Wert": (RegType.SZ, "ü\x00".encode("utf-16-le"))},
}


def build(minor: int) -> Hive:
    hive = Hive.new("ROOT", minor=minor)
    for path, values in SPEC.items():
        key = hive.root.create(path) if path else hive.root
        for name, (vtype, data) in values.items():
            key.set_value(name, vtype, data)
    many = hive.root.create("Many")
    for i in range(1100):  # more than one leaf: an ri list
        many.create(f"k{i:04d}")
    return hive


def expected_view() -> dict[str, dict[str, str]]:
    view = {path: {n: reg_data(t, d) for n, (t, d) in values.items()} for path, values in SPEC.items()}
    view["Many"] = {}
    view.update({f"Many\\k{i:04d}": {} for i in range(1100)})
    return view


@pytest.mark.parametrize("minor", [3, 5])
def test_new_hive_as_hivex_sees_it(minor: int, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    out = tmp_path / "new.hive"
    save_hive(build(minor), out, timestamp=1_700_000_000)
    data = out.read_bytes()
    counts = check_structure(data)
    assert counts == {"keys": len(expected_view()), "sk": 1}
    assert struct.unpack_from("<II", data, 20) == (1, minor)
    assert hivex_view(out) == expected_view()


def _data_cell_of(data: bytes, name: str) -> bytes:
    """The data cell of the only value called `name`, found with struct (vk layout, formats.md §1)."""
    raw = name.encode("latin-1")
    hits = [m.start() for m in re.finditer(re.escape(b"vk" + struct.pack("<H", len(raw))), data)]
    hits = [h for h in hits if data[h + 20 : h + 20 + len(raw)] == raw]
    assert len(hits) == 1, hits
    offset = struct.unpack_from("<I", data, hits[0] + 8)[0]
    size = -struct.unpack_from("<i", data, 4096 + offset)[0]
    assert size > 0, "data offset is not an allocated cell"
    return data[4096 + offset + 4 : 4096 + offset + size]


@pytest.mark.parametrize("minor", [3, 5])
def test_big_data_only_above_minor_3(minor: int, tmp_path: Path) -> None:
    """A 20 KiB value: minor 5 writes a db record (two segments), minor 3 one plain data cell."""
    require_tool("hivexregedit")
    data = serialize_hive(build(minor), timestamp=0)
    (tmp_path / "big.hive").write_bytes(data)
    assert hivex_values(tmp_path / "big.hive")["Software\\Vendor"]["Blob"] == (3, bytes(range(256)) * 80)
    payload = _data_cell_of(data, "Blob")
    if minor == 5:
        assert payload[:4] == b"db" + struct.pack("<H", 2)
    else:
        assert payload[:20480] == bytes(range(256)) * 80
    back = Hive.parse(data).root.open("software\\VENDOR").get_value("blob")
    assert back is not None and back.data == bytes(range(256)) * 80


def test_regipy_reads_a_new_hive(tmp_path: Path) -> None:
    from regipy.registry import RegistryHive

    out = tmp_path / "new.hive"
    save_hive(build(5), out, timestamp=0)
    reg = RegistryHive(str(out))
    vendor = reg.get_key("\\Software\\Vendor")
    values = {v.name: v.value for v in vendor.iter_values()}
    assert values["Count"] == 7
    assert values["Name"] == "pebuild"


def test_compact_is_deterministic() -> None:
    assert serialize_hive(build(3), timestamp=123) == serialize_hive(build(3), timestamp=123)
    assert serialize_hive(build(3), timestamp=123) != serialize_hive(build(3), timestamp=124)


def test_source_date_epoch_pins_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")
    assert serialize_hive(build(3)) == serialize_hive(build(3), timestamp=1000)


def test_navigation_is_case_insensitive_and_edits_work(tmp_path: Path) -> None:
    require_tool("hivexregedit")
    hive = Hive.parse(serialize_hive(build(3), timestamp=0))
    vendor = hive.root.open("SOFTWARE\\vendor")
    assert vendor is not None and vendor.path == "Software\\Vendor"
    assert vendor.get_value("COUNT").as_python() == 7
    assert vendor.get_value("list").as_python() == ["a", "b"]
    assert hive.root.subkey("software").subkey("VeNdOr") is vendor
    vendor.delete_value("count")
    assert vendor.get_value("Count") is None
    with pytest.raises(UsageError):
        vendor.delete_value("Count")
    with pytest.raises(UsageError):
        hive.root.delete_subkey("ControlSet001", recursive=False)
    hive.root.delete_subkey("controlset001")
    assert hive.root.open("ControlSet001\\Control") is None
    again = Hive.parse(serialize_hive(hive, "preserve", timestamp=1))
    assert again.root.open("ControlSet001") is None
    assert again.root.open("Software\\Vendor").get_value("Count") is None
    assert again.root.open("Software\\Vendor").get_value("Name").as_python() == "pebuild"
    check_structure(serialize_hive(hive, "preserve", timestamp=1))
    save_hive(hive, tmp_path / "edited", mode="preserve", timestamp=1)
    want = {
        p: {n: v for n, v in vals.items() if (p, n) != ("Software\\Vendor", "Count")}
        for p, vals in SPEC.items()
    }
    want = {
        p: {n: (int(t), d) for n, (t, d) in vals.items()} for p, vals in want.items() if "ControlSet" not in p
    }
    want.update({"Many": {}, **{f"Many\\k{i:04d}": {} for i in range(1100)}})
    assert hivex_values(tmp_path / "edited") == want  # hivex: the deletions and nothing else


def test_class_names_and_timestamps_survive_both_modes(tmp_path: Path) -> None:
    require_tool("hivexregedit")
    hive = build(3)
    key = hive.root.open("Software\\Vendor")
    key.class_name = "VendorClass"
    key.timestamp = 0x01D0000000000000
    data = serialize_hive(hive, timestamp=0)
    back = Hive.parse(data).root.open("Software\\Vendor")
    assert back.class_name == "VendorClass"
    assert back.timestamp == 0x01D0000000000000
    other = Hive.parse(data)
    other.root.open("Software").set_value("x", RegType.DWORD, 1)
    again = Hive.parse(serialize_hive(other, "preserve", timestamp=0)).root.open("Software\\Vendor")
    assert again.class_name == "VendorClass" and again.timestamp == 0x01D0000000000000
    for mode, edited in (("compact", hive), ("preserve", other)):
        save_hive(edited, tmp_path / mode, mode=mode, timestamp=0)
        assert regipy_classes(tmp_path / mode)["Software\\Vendor"] == ("VendorClass", 0x01D0000000000000)
        assert hivex_tree(tmp_path / mode)["Software\\Vendor"].mtime == 0x01D0000000000000
        assert regipy_classes(tmp_path / mode)["Software"][0] is None


def test_changed_key_is_stamped_with_the_save_time(tmp_path: Path) -> None:
    from pebuild.clock import to_filetime

    require_tool("hivexregedit")
    hive = Hive.parse(serialize_hive(build(3), timestamp=100))
    hive.root.open("Software").set_value("x", RegType.DWORD, 1)
    back = Hive.parse(serialize_hive(hive, "preserve", timestamp=200))
    assert back.root.open("Software").timestamp == to_filetime(200)
    assert back.root.open("Software\\Vendor").timestamp == to_filetime(100)
    save_hive(hive, tmp_path / "h", mode="preserve", timestamp=200)
    seen = hivex_tree(tmp_path / "h")  # FILETIMEs as hivex reads them, computed here from Unix seconds
    assert seen["Software"].mtime == 200 * 10_000_000 + 116_444_736_000_000_000
    assert {k.mtime for p, k in seen.items() if p != "Software"} == {
        100 * 10_000_000 + 116_444_736_000_000_000
    }


def test_value_as_python() -> None:
    assert Value("a", RegType.DWORD_BE, b"\x00\x00\x01\x00").as_python() == 256
    assert Value("a", RegType.EXPAND_SZ, "%x%\x00".encode("utf-16-le")).as_python() == "%x%"
    assert Value("a", 0x99, b"\x01").as_python() == b"\x01"


def test_checksum_rule_edge_cases() -> None:
    zero = bytearray(512)
    assert header_checksum(bytes(zero)) == 1
    ones = bytearray(512)
    ones[0:4] = b"\xff\xff\xff\xff"
    assert header_checksum(bytes(ones)) == 0xFFFFFFFE
    plain = bytearray(512)
    plain[4:8] = (0x1234).to_bytes(4, "little")
    assert header_checksum(bytes(plain)) == 0x1234


def test_construct_records_match_fast_formats() -> None:
    """The construct Structs document the records; the struct formats used in hot paths agree."""
    assert BaseBlock.sizeof() == 4096
    nk = KeyNode.build(
        {
            "flags": 0x20,
            "last_written_timestamp": 5,
            "access_bits": 0,
            "parent": 0x20,
            "number_of_subkeys": 1,
            "number_of_volatile_subkeys": 0,
            "subkeys_list_offset": 0x80,
            "volatile_subkeys_list_offset": 0xFFFFFFFF,
            "number_of_key_values": 2,
            "key_values_list_offset": 0x90,
            "key_security_offset": 0x78,
            "class_name_offset": 0xFFFFFFFF,
            "largest_subkey_name_length": 4,
            "largest_subkey_class_name_length": 0,
            "largest_value_name_length": 6,
            "largest_value_data_size": 8,
            "workvar": 0,
            "key_name_length": 3,
            "class_name_length": 0,
            "key_name_string": b"abc",
        }
    )
    fields = NK.unpack_from(nk)
    assert fields[0] == b"nk" and fields[4] == 0x20 and fields[7] == 0x80 and fields[11] == 0x78
    assert nk[NK.size :] == b"abc"
    vk = KeyValue.build(
        {
            "name_length": 1,
            "data_size": 0x80000004,
            "data_offset": 7,
            "data_type": 4,
            "flags": 1,
            "spare": 0,
            "value_name_string": b"x",
        }
    )
    assert VK.unpack_from(vk) == (b"vk", 1, 0x80000004, 7, 4, 1, 0)
    sk = KeySecurity.build(
        {
            "reserved": 0,
            "flink": 8,
            "blink": 8,
            "reference_count": 3,
            "security_descriptor_size": 2,
            "security_descriptor": b"\x01\x00",
        }
    )
    assert SK.unpack_from(sk) == (b"sk", 0, 8, 8, 3, 2)


def test_dirty_hive_is_refused_unless_asked(bcd_fixtures: Path) -> None:
    data = bytearray((bcd_fixtures / "wds-default-x64-pxe.bcd").read_bytes())
    struct.pack_into("<I", data, 8, struct.unpack_from("<I", data, 4)[0] + 1)
    struct.pack_into("<I", data, 508, header_checksum(bytes(data[:512])))
    with pytest.raises(FormatError, match="dirty"):
        Hive.parse(bytes(data))
    assert Hive.parse(bytes(data), allow_dirty=True).root.subkey("Objects") is not None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[:100], r"not a registry hive|truncated"),
        (lambda d: b"XXXX" + d[4:], "not a registry hive"),
        (lambda d: d[:6000], "truncated"),
        (lambda d: d[:508] + b"\0\0\0\0" + d[512:], "checksum"),
    ],
)
def test_bad_files_raise_format_error(bcd_fixtures: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = (bcd_fixtures / "wds-default-x64-pxe.bcd").read_bytes()
    with pytest.raises(FormatError, match=message):
        Hive.parse(mutate(data))


def test_li_lists_are_read(tmp_path: Path) -> None:
    """Rewrite an lf list as an li (4-byte entries, fits the same cell); hivex and we agree."""
    require_tool("hivexregedit")
    hive = Hive.new(minor=3)
    for name in ("alpha", "Beta", "gamma"):
        hive.root.create(name).set_value("v", RegType.DWORD, len(name))
    data = bytearray(serialize_hive(hive, timestamp=0))
    root = struct.unpack_from("<I", data, 36)[0]
    sublist = struct.unpack_from("<I", data, 4096 + root + 4 + 0x1C)[0]
    pos = 4096 + sublist + 4
    assert data[pos : pos + 2] == b"lf"
    _sig, count = struct.unpack_from("<2sH", data, pos)
    entries = [struct.unpack_from("<I", data, pos + 4 + 8 * i)[0] for i in range(count)]
    struct.pack_into(f"<2sH{count}I", data, pos, b"li", count, *entries)
    out = tmp_path / "li.hive"
    out.write_bytes(bytes(data))
    assert [k.name for k in Hive.parse(bytes(data)).root.subkeys] == ["alpha", "Beta", "gamma"]
    assert hivex_view(out)["Beta"] == {"v": reg_data(RegType.DWORD, (4).to_bytes(4, "little"))}
