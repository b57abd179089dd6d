"""regf 1.6 differencing (layered) hives: tombstones are deletions, and stay tombstones.

yarp's System_Delta (a Windows 10 RS1+ differencing hive) has three tombstone values
(vk flag 0x0002, REG_NONE, size 0, data offset 0xFFFFFFFF) and two tombstone keys
(layer semantics 1 in the nk's second access byte; S1 "Layered keys"). hivex knows
nothing of layers and cannot read a tombstone value at all (it follows the 0xFFFFFFFF data
offset: "value_value: Bad address", for Windows' file as for ours); regipy lists tombstones
as ordinary empty REG_NONE values, which makes it the witness that they come back unchanged.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hive_check import check_structure

from _helpers import HIVE_FIXTURES, hive_fixture
from pebuild.hive import Hive, RegType, save_hive

pytestmark = pytest.mark.skipif(not HIVE_FIXTURES.is_dir(), reason=f"hive fixtures not at {HIVE_FIXTURES}")

CS = "ControlSet001"
TOMB_VALUES = {
    f"{CS}\\Control\\Session Manager\\Memory Management": ["ExistingPageFiles"],
    f"{CS}\\Services\\EventLog\\State": ["6005BT"],
    f"{CS}\\Services\\XboxNetApiSvc": ["displayname"],
}
TOMB_KEYS = {
    f"{CS}\\Control\\WMI\\Autologger\\AutoLogger-Diagtrack-Listener": [
        "{BA84F32B-8AF2-5006-F147-5030CDD7F22D}"
    ],
    f"{CS}\\Services": ["XBOXGIP"],
}


@pytest.fixture
def delta(tmp_path: Path) -> Path:
    return hive_fixture("yarp-System_Delta", tmp_path / "in", logs=False)


@pytest.fixture(scope="module")
def original_view(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple]]:
    return _regipy_view(hive_fixture("yarp-System_Delta", tmp_path_factory.mktemp("delta"), logs=False))


def _tombstones(hive: Hive) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    values, keys = {}, {}
    for key in hive.root.walk():
        if key.deleted_values:
            values[key.path] = key.deleted_values
        if key.deleted_subkeys:
            keys[key.path] = key.deleted_subkeys
    return values, keys


def _raw_vk(data: bytes, hive: Hive, path: str, name: str) -> tuple:
    key = hive.root.open(path)
    assert key is not None
    raw = next(v for v in key._value_list() if v[0] == name)
    pos = 4096 + raw[3] + 4
    _sig, _nlen, size, data_off, vtype, flags, _spare = struct.unpack_from("<2sHIIIHH", data, pos)
    return size, data_off, vtype, flags


def test_tombstones_read_as_deletions(delta: Path) -> None:
    hive = Hive.open(delta)
    assert hive.minor == 6
    assert _tombstones(hive) == (TOMB_VALUES, TOMB_KEYS)
    for path, names in TOMB_VALUES.items():
        key = hive.root.open(path)
        assert all(key.get_value(n) is None for n in names)
        assert not {v.name for v in key.values} & set(names)
    for path, names in TOMB_KEYS.items():
        key = hive.root.open(path)
        assert all(key.subkey(n) is None for n in names)
        assert not {k.name for k in key.subkeys} & set(names)
    assert sum(1 for _ in hive.root.walk()) == 586 - 2


@pytest.mark.parametrize("mode", ["compact", "preserve"])
def test_tombstones_are_written_back_as_tombstones(
    delta: Path, mode: str, tmp_path: Path, original_view: dict[str, set[tuple]]
) -> None:
    hive = Hive.open(delta)
    hive.root.create("Pebuild").set_value("Probe", RegType.DWORD, 7)  # an edit elsewhere
    # and an edit in a key that holds a tombstone value: the tombstone must survive its rewrite
    hive.root.open(f"{CS}\\Services\\XboxNetApiSvc").set_value("Added", RegType.SZ, "x")
    out = tmp_path / "out"
    save_hive(hive, out, mode=mode, timestamp=0)
    data = out.read_bytes()
    check_structure(data)
    back = Hive.open(out)
    assert back.minor == 6
    assert _tombstones(back) == (TOMB_VALUES, TOMB_KEYS)
    for path, names in TOMB_VALUES.items():
        for name in names:  # S1: REG_NONE, size 0, offset 0xFFFFFFFF, flag 0x0002 (+ 0x0001 ASCII name)
            assert _raw_vk(data, back, path, name) == (0, 0xFFFFFFFF, 0, 0x0003)
    for path, names in TOMB_KEYS.items():
        parent = back.root.open(path)
        for child in parent._children():
            if child.name in names:
                assert child.is_tombstone and child.access_bits & 0x0300 == 0x0100
    written = _regipy_view(out)
    assert written.pop("\\Pebuild") == {("Probe", "REG_DWORD", 7)}
    written[f"\\{CS}\\Services\\XboxNetApiSvc"].discard(("Added", "REG_SZ", "x"))
    assert written == original_view  # tombstones included, as regipy lists them


def _regipy_view(path: Path) -> dict[str, set[tuple]]:
    from regipy.registry import RegistryHive

    reg = RegistryHive(str(path))
    return {
        sub.path: {
            (v.name, v.value_type, tuple(v.value) if isinstance(v.value, list) else v.value)
            for v in sub.values
        }
        for sub in reg.recurse_subkeys(as_json=False)
    }


def test_setting_a_deleted_name_replaces_the_tombstone(delta: Path, tmp_path: Path) -> None:
    hive = Hive.open(delta)
    key = hive.root.open(f"{CS}\\Services\\EventLog\\State")
    key.set_value("6005BT", RegType.DWORD, 1)
    assert key.get_value("6005BT").as_python() == 1 and key.deleted_values == []
    services = hive.root.open(f"{CS}\\Services")
    again = services.create("XBOXGIP")
    assert not again.is_tombstone and services.deleted_subkeys == []
    again.set_value("Start", RegType.DWORD, 3)
    out = tmp_path / "out"
    save_hive(hive, out, mode="preserve", timestamp=0)
    back = Hive.open(out)
    assert back.root.open(f"{CS}\\Services\\XBOXGIP").get_value("Start").as_python() == 3
    assert back.root.open(f"{CS}\\Services").deleted_subkeys == []
    assert back.root.open(f"{CS}\\Services\\EventLog\\State").get_value("6005BT").as_python() == 1
    # regipy (hivex cannot read tombstone values): the new values, one of each name
    written = _regipy_view(out)
    assert ("Start", "REG_DWORD", 3) in written[f"\\{CS}\\Services\\XBOXGIP"]
    state = written[f"\\{CS}\\Services\\EventLog\\State"]
    assert [v for v in state if v[0].upper() == "6005BT"] == [("6005BT", "REG_DWORD", 1)]
