"""Damaged real hives are never rewritten: the full check refuses them, naming the problem.

Each case damages one structure of a real hive *away from the key being edited* (the
reader decodes lazily and would not notice), then asks pebuild to add a value at the
root. Both writer modes must raise FormatError with the offset of the problem, and the
CLI must exit 5 with one line naming the file, leaving the file byte for byte as it was.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from _helpers import HIVE_FIXTURES, assert_one_line_error, hive_fixture, require_tool
from pebuild.errors import FormatError
from pebuild.hive import Hive, RegType, check_image, header_checksum, save_hive, serialize_hive

pytestmark = pytest.mark.skipif(not HIVE_FIXTURES.is_dir(), reason=f"hive fixtures not at {HIVE_FIXTURES}")

Damage = Callable[[bytearray, Hive], None]
DEEP = "AppEvents\\Schemes\\Apps\\Explorer"  # 11 subkeys (lf list), 2 values; far from the root
BIG = "Control Panel\\Appearance\\Schemes"  # values with 712-byte data cells


def _nk(hive: Hive, path: str) -> int:
    key = hive.root.open(path)
    assert key is not None and key.record is not None
    return 4096 + key.record.offset + 4  # file position of the nk data


def _u32(data: bytearray, pos: int, value: int) -> None:
    struct.pack_into("<I", data, pos, value & 0xFFFFFFFF)


def _rec(hive: Hive, path: str):  # type: ignore[no-untyped-def]
    key = hive.root.open(path)
    assert key is not None and key.record is not None
    return key.record


def _free_cell(data: bytearray) -> int:
    bins = struct.unpack_from("<I", data, 40)[0]
    pos = 0
    while pos < bins:
        size = struct.unpack_from("<I", data, 4096 + pos + 8)[0]
        cell = pos + 32
        while cell < pos + size:
            csize = struct.unpack_from("<i", data, 4096 + cell)[0]
            if csize > 0 and cell > 0x20000:
                return cell
            cell += abs(csize)
        pos += size
    raise AssertionError("no free cell")


def _list_pos(hive: Hive, path: str) -> int:
    return 4096 + _rec(hive, path).subkeys_list + 4


def _value_list_pos(hive: Hive, path: str) -> int:
    return 4096 + _rec(hive, path).values_list + 4


def _vk_pos(hive: Hive, path: str, index: int = 0) -> int:
    key = hive.root.open(path)
    assert key is not None
    offset = key.values[index].vk_offset
    assert offset is not None
    return 4096 + offset + 4


def _sk_pos(hive: Hive, path: str) -> int:
    return 4096 + _rec(hive, path).security + 4


def _swap_entries(data: bytearray, hive: Hive) -> None:
    pos = _list_pos(hive, DEEP)
    first, second = data[pos + 4 : pos + 12], data[pos + 12 : pos + 20]
    data[pos + 4 : pos + 12], data[pos + 12 : pos + 20] = second, first


def _bad_cell_size(data: bytearray, hive: Hive) -> None:
    free = _free_cell(data)
    _u32(data, 4096 + free, struct.unpack_from("<i", data, 4096 + free)[0] + 4)


def _cross_bin(data: bytearray, hive: Hive) -> None:
    free = _free_cell(data)
    _u32(data, 4096 + free, struct.unpack_from("<i", data, 4096 + free)[0] + 8 * 4096)


def _sk_unreachable(data: bytearray, hive: Hive) -> None:
    sk = _sk_pos(hive, DEEP)
    own = sk - 4 - 4096
    _u32(data, sk + 4, own)  # Flink to itself: the ring from the root no longer closes properly
    _u32(data, sk + 8, own)


DAMAGES: dict[str, tuple[Damage, str]] = {
    "subkey count above its list": (lambda d, h: _u32(d, _nk(h, DEEP) + 0x14, 12), "says 12 subkeys"),
    "subkey count below its list": (lambda d, h: _u32(d, _nk(h, DEEP) + 0x14, 10), "says 10 subkeys"),
    "value count beyond the list cell": (lambda d, h: _u32(d, _nk(h, DEEP) + 0x24, 900), "do not fit"),
    "value entry inside a cell": (
        lambda d, h: _u32(
            d, _value_list_pos(h, DEEP), struct.unpack_from("<I", d, _value_list_pos(h, DEEP))[0] + 8
        ),
        "not the start of a cell",
    ),
    "value entry to a free cell": (
        lambda d, h: _u32(d, _value_list_pos(h, DEEP), _free_cell(d)),
        "free cell",
    ),
    "value signature": (
        lambda d, h: d.__setitem__(slice(_vk_pos(h, DEEP), _vk_pos(h, DEEP) + 2), b"xx"),
        "not a value",
    ),
    "data size beyond its cell": (lambda d, h: _u32(d, _vk_pos(h, BIG) + 4, 5000), "exceeds its"),
    "inline data over 4 bytes": (lambda d, h: _u32(d, _vk_pos(h, DEEP) + 4, 0x80000009), "inline data of 9"),
    "subkey list signature": (
        lambda d, h: d.__setitem__(slice(_list_pos(h, DEEP), _list_pos(h, DEEP) + 2), b"zz"),
        "not a subkey list",
    ),
    "subkeys out of Windows' order": (_swap_entries, "out of Windows' order"),
    "subkey listed twice": (
        lambda d, h: d.__setitem__(
            slice(_list_pos(h, DEEP) + 12, _list_pos(h, DEEP) + 20),
            d[_list_pos(h, DEEP) + 4 : _list_pos(h, DEEP) + 12],
        ),
        "twice",
    ),
    "parent pointer": (
        lambda d, h: _u32(d, _nk(h, DEEP + "\\FaxSent") + 0x10, _rec(h, "AppEvents").offset),
        "as parent",
    ),
    "key node signature": (
        lambda d, h: d.__setitem__(
            slice(_nk(h, DEEP + "\\Navigating"), _nk(h, DEEP + "\\Navigating") + 2), b"kn"
        ),
        "key node",
    ),
    "key name past its cell": (
        lambda d, h: struct.pack_into("<H", d, _nk(h, DEEP + "\\Navigating") + 0x48, 4000),
        "name runs past its cell|does not fit",
    ),
    "security cell signature": (
        lambda d, h: d.__setitem__(slice(_sk_pos(h, DEEP), _sk_pos(h, DEEP) + 2), b"ks"),
        "sk",
    ),
    "security reference count": (lambda d, h: _u32(d, _sk_pos(h, DEEP) + 12, 0), "references"),
    "security list broken": (_sk_unreachable, "security cell"),
    "class name to a free cell": (
        lambda d, h: (
            _u32(d, _nk(h, DEEP) + 0x30, _free_cell(d)),
            struct.pack_into("<H", d, _nk(h, DEEP) + 0x4A, 8),
        ),
        "class name",
    ),
    "cell size not a multiple of 8": (_bad_cell_size, "bad size"),
    "cell crossing its bin": (_cross_bin, "crosses the end of its hive bin"),
    "subkey list back to the root": (
        lambda d, h: _u32(d, _list_pos(h, DEEP) + 4, h.root.record.offset),
        "reached twice|Windows' order",
    ),
}


@pytest.fixture(scope="module")
def ntuser(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return hive_fixture("regipy-NTUSER.DAT", tmp_path_factory.mktemp("ntuser"), logs=False).read_bytes()


def _damaged(original: bytes, name: str) -> bytes:
    data = bytearray(original)
    damage, _message = DAMAGES[name]
    damage(data, Hive.parse(original))
    return bytes(data)


@pytest.mark.parametrize("name", sorted(DAMAGES))
def test_damage_away_from_the_edit_is_refused(ntuser: bytes, name: str) -> None:
    data = _damaged(ntuser, name)
    _damage, message = DAMAGES[name]
    for mode in ("preserve", "compact"):
        hive = Hive.parse(data)  # lazy: opening and editing elsewhere works
        hive.root.create("Pebuild").set_value("Probe", RegType.DWORD, 7)
        with pytest.raises(FormatError, match=message) as info:
            serialize_hive(hive, mode, timestamp=0)
        assert "refusing to write a damaged hive" in info.value.message
        assert "0x" in info.value.message  # names the offset
    with pytest.raises(FormatError):
        check_image(Hive.parse(data)._image)  # type: ignore[arg-type]


def test_the_undamaged_hive_passes(ntuser: bytes, tmp_path: Path) -> None:
    from hive_check import hivex_values

    require_tool("hivexregedit")
    hive = Hive.parse(ntuser)
    report = check_image(hive._image)  # type: ignore[arg-type]
    assert report.keys == sum(1 for _ in hive.root.walk())
    hive.root.create("Pebuild").set_value("Probe", RegType.DWORD, 7)
    Hive.parse(serialize_hive(hive, "preserve", timestamp=0))
    (tmp_path / "in").write_bytes(ntuser)
    save_hive(hive, tmp_path / "out", mode="preserve", timestamp=0)
    want = hivex_values(tmp_path / "in")
    want["Pebuild"] = {"Probe": (RegType.DWORD, (7).to_bytes(4, "little"))}
    assert hivex_values(tmp_path / "out") == want  # hivex: the original plus exactly the edit


@pytest.mark.parametrize(
    "name",
    [
        "subkey count above its list",
        "value entry to a free cell",
        "security list broken",
        "cell crossing its bin",
    ],
)
def test_cli_refuses_and_leaves_the_file(run_pebuild, ntuser: bytes, name: str, tmp_path: Path) -> None:
    path = tmp_path / "NTUSER.DAT"
    path.write_bytes(_damaged(ntuser, name))
    before = path.read_bytes()
    proc = run_pebuild("reg", "set", str(path), "HKLM\\Pebuild", "Probe", "--type", "dword", "--value", "7")
    assert_one_line_error(proc, 5)
    assert proc.stderr.startswith(f"pebuild: {path}: refusing to write a damaged hive")
    assert path.read_bytes() == before


def test_root_count_over_an_8_entry_list_as_hivex_refuses_it(run_pebuild, tmp_path: Path) -> None:
    """SYSTEM_2's root lists 8 subkeys; a count of 0xFFFFFFFF there is refused by every path."""
    tool = require_tool("hivexsh")
    data = bytearray(hive_fixture("regipy-SYSTEM_2", tmp_path / "src", logs=False).read_bytes())
    struct.pack_into("<I", data, 8, struct.unpack_from("<I", data, 4)[0])  # a clean header for the test
    root = struct.unpack_from("<I", data, 36)[0]
    assert struct.unpack_from("<I", data, 4096 + root + 4 + 0x14)[0] == 8
    struct.pack_into("<I", data, 4096 + root + 4 + 0x14, 0xFFFFFFFF)
    struct.pack_into("<I", data, 508, header_checksum(bytes(data[:512])))
    path = tmp_path / "SYSTEM"
    path.write_bytes(bytes(data))
    import subprocess

    hivex = subprocess.run(
        [tool, "-f", "/dev/stdin", str(path)], input="ls\n", capture_output=True, text=True
    )
    assert hivex.returncode != 0 or "error" in hivex.stderr.lower()
    with pytest.raises(FormatError, match="holds 8 keys, its key node says 4294967295"):
        Hive.open(path).root.subkeys  # noqa: B018
    before = path.read_bytes()
    for args in (["query", str(path), "\\"], ["set", str(path), "HKLM\\Select", "Probe", "--value", "1"]):
        proc = run_pebuild("reg", *args)
        assert_one_line_error(proc, 5)
        assert f"pebuild: {path}: " in proc.stderr
    assert path.read_bytes() == before


def test_ri_inside_ri_and_broken_big_data(tmp_path: Path) -> None:
    many = bytearray(hive_fixture("yarp-ManySubkeysHive", tmp_path, logs=False).read_bytes())
    hive = Hive.parse(bytes(many))
    ri = hive.root.open("key_with_many_subkeys").record.subkeys_list
    assert many[4096 + ri + 4 : 4096 + ri + 6] == b"ri"
    struct.pack_into("<I", many, 4096 + ri + 4 + 4, ri)  # its first leaf is itself
    with pytest.raises(FormatError, match="index root"):
        check_image(Hive.parse(bytes(many))._image)  # type: ignore[arg-type]
    big = bytearray(hive_fixture("yarp-BigDataHive", tmp_path, logs=False).read_bytes())
    hive = Hive.parse(bytes(big))
    value = hive.root.open("key_with_bigdata").values[0]
    vpos = 4096 + value.vk_offset + 4  # type: ignore[operator]
    db = struct.unpack_from("<I", big, vpos + 8)[0]
    assert big[4096 + db + 4 : 4096 + db + 6] == b"db"
    struct.pack_into("<H", big, 4096 + db + 4 + 2, 1)  # one segment cannot hold the data
    with pytest.raises(FormatError, match="big data segments hold"):
        check_image(Hive.parse(bytes(big))._image)  # type: ignore[arg-type]


def test_unreachable_garbage_is_kept_and_accepted(ntuser: bytes, tmp_path: Path) -> None:
    """Preserve mode carries cells nothing points to; Windows and hivex tolerate them (S5)."""
    require_tool("hivexregedit")
    data = bytearray(ntuser)
    free = _free_cell(data)
    size = struct.unpack_from("<i", data, 4096 + free)[0]
    struct.pack_into("<i", data, 4096 + free, -size)  # allocated, referenced by nothing
    data[4096 + free + 4 : 4096 + free + min(size, 64)] = b"\xa5" * (min(size, 64) - 4)
    hive = Hive.parse(bytes(data))
    hive.root.create("Pebuild").set_value("Probe", RegType.DWORD, 7)
    out = tmp_path / "out"
    save_hive(hive, out, mode="preserve", timestamp=0)
    assert out.read_bytes()[4096 + free + 4 : 4096 + free + 8] == b"\xa5" * 4
    from hive_check import hivex_view

    assert hivex_view(out)["Pebuild"] == {"Probe": "dword:00000007"}
