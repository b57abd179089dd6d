"""BcdStore on the real stores: resolve, get/set/delete, listing, lossless JSON checked by hivex."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hive_check import bcd_elements, check_structure, hivex_export, hivex_tree

from _helpers import BCD_FIXTURES, require_tool
from pebuild.bcd import ALIASES, BcdStore, BootDevice, RamdiskDevice, store_from_json, store_to_json
from pebuild.bcd.listing import format_listing
from pebuild.errors import FormatError, UsageError

FIXTURES = sorted(BCD_FIXTURES.glob("*.bcd")) if BCD_FIXTURES.is_dir() else []
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"shared BCD fixtures not found at {BCD_FIXTURES}")
IDS = [p.stem for p in FIXTURES]
SETUP_LOADER = uuid.UUID("7619dcc9-fafe-11d9-b411-000476eba25f")


def _reg(fixture: Path) -> str:
    return (fixture.parent / (fixture.name + ".reg")).read_text()


def _dump_elements(fixture: Path) -> set[tuple[str, str]]:
    """(object GUID, element id) pairs from the fixture's semantic .dump (written by another tool)."""
    pairs = set()
    for line in (fixture.parent / (fixture.name + ".dump")).read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "element":
            pairs.add((parts[1].lower(), parts[2].lower()))
    return pairs


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_objects_and_elements_match_the_dump(fixture: Path) -> None:
    store = BcdStore.open(fixture)
    ours = {
        ("{" + str(guid) + "}", f"{eid:08x}") for guid, obj in store.objects.items() for eid in obj.elements
    }
    expected = _dump_elements(fixture)
    odd = {(obj, element) for obj, element in expected if len(obj) != 38}  # e.g. a "{Default}" key
    assert ours == expected - odd
    for obj, _element in odd:  # not an object, but kept: listed and exported verbatim
        assert any(k.lower() == obj for k in store_to_json(store)["objects"])
    listing = format_listing(store)
    assert "identifier" in listing
    for guid in store.objects:
        assert store.alias_of(guid) in listing


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
def test_export_import_is_lossless_for_hivex(fixture: Path, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    document = json.loads(json.dumps(store_to_json(BcdStore.open(fixture))))
    out = tmp_path / "imported.bcd"
    store_from_json(document).write(out, timestamp=0)
    assert hivex_export(out) == _reg(fixture)
    check_structure(out.read_bytes())
    assert store_to_json(BcdStore.open(out)) == document
    from regipy.registry import RegistryHive

    keys = sum(1 for _ in RegistryHive(str(out)).recurse_subkeys(as_json=False))
    assert keys == sum(1 for _ in BcdStore.open(fixture).hive.root.walk())


@pytest.mark.parametrize("fixture", FIXTURES, ids=IDS)
@pytest.mark.parametrize("mode", ["compact", "preserve"])
def test_plain_rewrite_is_lossless_for_hivex(fixture: Path, mode: str, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    out = tmp_path / "rewritten.bcd"
    BcdStore.open(fixture).write(out, timestamp=0, mode=mode)
    assert hivex_export(out) == _reg(fixture)


def test_resolve_default_and_short_integers(bcd_fixtures: Path) -> None:
    store = BcdStore.open(bcd_fixtures / "win10-setup-pcat.bcd")
    assert store.resolve("{default}") == SETUP_LOADER
    assert store.resolve("{current}") == SETUP_LOADER
    assert store.resolve("{BOOTMGR}") == ALIASES["{bootmgr}"]
    assert store.get("{bootmgr}", "timeout") == 30  # stored as 1 byte
    assert store.get("{dbgsettings}", "baudrate") == 115200  # stored as 3 bytes
    assert store.get("{default}", "winpe") is True
    assert store.get("{default}", "inherit") == [ALIASES["{bootloadersettings}"]]
    device = store.get("{default}", "osdevice")
    assert device == RamdiskDevice(
        "\\sources\\boot.wim", BootDevice(), uuid.UUID("7619dcc8-fafe-11d9-b411-000476eba25f")
    )
    assert store.get("{bootmgr}", "loadoptions") is None
    assert store.objects[ALIASES["{bootmgr}"]].type == 0x10100002


def test_set_delete_and_json_note_raw_bytes(bcd_fixtures: Path, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    store = BcdStore.open(bcd_fixtures / "win10-setup-pcat.bcd")
    document = store_to_json(store)
    timeout = document["objects"]["{9dea862c-5cdd-4e70-acc1-f32b344d4795}"]["elements"]["25000004"]
    assert timeout == {"name": "timeout", "value": 30, "reg_type": 3, "hex": "1e"}
    store.set("{bootmgr}", "timeout", "5")
    assert store.objects[ALIASES["{bootmgr}"]].elements[0x25000004].data == (5).to_bytes(8, "little")
    store.set("{default}", "bootmenupolicy", "legacy")
    assert store.get("{default}", "bootmenupolicy") == 0
    store.set("{default}", "ems", "yes")
    store.set("{default}", "device", "ramdisk=[boot]\\x64\\sources\\boot.wim,{ramdiskoptions}")
    assert store.get("{default}", "device").options == ALIASES["{ramdiskoptions}"]
    store.set("{default}", "0x12000030", "/noguiboot")
    assert store.get("{default}", "loadoptions") == "/noguiboot"
    store.delete("{default}", "loadoptions")
    assert store.get("{default}", "loadoptions") is None
    store.delete("{memdiag}")
    assert ALIASES["{memdiag}"] not in store.objects
    again = BcdStore.parse(store.serialize(timestamp=0, mode="preserve"))
    assert again.get("{bootmgr}", "timeout") == 5 and ALIASES["{memdiag}"] not in again.objects
    # hivex on the written store: the edits as Windows encodes them, every other element as it was
    store.write(tmp_path / "BCD", timestamp=0, mode="preserve")
    seen, want = bcd_elements(tmp_path / "BCD"), bcd_elements(bcd_fixtures / "win10-setup-pcat.bcd")
    bootmgr, loader = f"{{{ALIASES['{bootmgr}']}}}", f"{{{SETUP_LOADER}}}"
    device = seen[loader].pop("11000001")
    assert device[0] == 3 and device[1][:16] == ALIASES["{ramdiskoptions}"].bytes_le
    assert device[1].endswith("\\x64\\sources\\boot.wim\0".encode("utf-16-le"))
    del want[loader]["11000001"], want[f"{{{ALIASES['{memdiag}']}}}"]
    want[bootmgr]["25000004"] = (3, (5).to_bytes(8, "little"))
    want[loader]["250000c2"] = (3, (0).to_bytes(8, "little"))  # bootmenupolicy legacy
    want[loader]["260000b0"] = (3, b"\x01")  # ems yes: one byte, as Windows writes booleans
    assert "12000030" not in want[loader] and seen == want
    # timestamps (hivex): keys of untouched objects keep Windows' FILETIMEs; edited ones carry the save time
    after, before = hivex_tree(tmp_path / "BCD"), hivex_tree(bcd_fixtures / "win10-setup-pcat.bcd")
    edited = {f"objects\\{g}" for g in (bootmgr, loader)}
    for key, item in after.items():
        if key.lower() not in ("objects",) and not any(key.lower().startswith(e) for e in edited):
            assert item.mtime == before[key].mtime, key
    assert after[f"Objects\\{bootmgr}\\Elements\\25000004"].mtime == 116_444_736_000_000_000  # Unix 0


@pytest.mark.parametrize(
    ("ident", "element", "value", "message"),
    [
        ("{nope}", "timeout", "1", "unknown object identifier"),
        ("{bootmgr}", "nosuchelement", "1", "unknown element name"),
        ("{bootmgr}", "timeout", "soon", "takes an integer"),
        ("{default}", "winpe", "maybe", "yes/no"),
        ("{default}", "device", "floppy", "bad device"),
        ("{bootmgr}", "default", "{not-a-guid}", "unknown object identifier"),
        ("{fwbootmgr}", "timeout", "1", "has no object"),
    ],
)
def test_bad_edits_are_usage_errors(
    bcd_fixtures: Path, ident: str, element: str, value: str, message: str
) -> None:
    store = BcdStore.open(bcd_fixtures / "win10-setup-pcat.bcd")
    with pytest.raises(UsageError, match=message):
        store.set(ident, element, value)


def test_wrong_registry_type_is_a_format_error(bcd_fixtures: Path) -> None:
    store = BcdStore.open(bcd_fixtures / "wds-default-x64-pxe.bcd")
    store.set_raw(ALIASES["{bootmgr}"], 0x25000004, 1, "x\0".encode("utf-16-le"))
    with pytest.raises(FormatError, match="REG_SZ"):
        store.get("{bootmgr}", "timeout")
    assert "undecodable" in format_listing(store)
    document = store_to_json(store)
    assert (
        document["objects"]["{9dea862c-5cdd-4e70-acc1-f32b344d4795}"]["elements"]["25000004"]["reg_type"] == 1
    )


def test_a_hive_without_objects_is_not_a_store() -> None:
    from pebuild.hive import Hive, serialize_hive

    with pytest.raises(FormatError, match="not a BCD store"):
        BcdStore.parse(serialize_hive(Hive.new(), timestamp=0))
