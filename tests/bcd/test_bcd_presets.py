"""Presets against the Windows-written store of the same kind; every difference is listed here
(and justified in docs/bcd.md), so a new difference fails the test."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hive_check import bcd_elements, check_structure, hivex_view, reg_data, reg_sz

from _helpers import BCD_FIXTURES, require_tool
from pebuild.bcd import ALIASES, BcdStore, presets
from pebuild.bcd.codec import decode_value
from pebuild.bcd.presets import PresetOptions

A = ALIASES
needs_fixtures = pytest.mark.skipif(
    not BCD_FIXTURES.is_dir(), reason=f"shared fixtures not at {BCD_FIXTURES}"
)

MEDIA_DIFFERENCES = {
    ("{memdiag}", None, "object only in Windows"),  # no memtest.exe on WinPE media
    ("{bootmgr}", 0x24000010, "element only in Windows"),  # toolsdisplayorder -> {memdiag}
    ("loader", 0x12000004, "value"),  # description "Windows Setup" vs "Windows PE"
}
PXE_DIFFERENCES = {
    ("loader", None, "object only in pebuild"),  # WDS adds loaders per image at request time
    ("{globalsettings}", None, "object only in pebuild"),
    ("{emssettings}", None, "object only in pebuild"),
    ("{bootloadersettings}", None, "object only in pebuild"),
    ("{hypervisorsettings}", None, "object only in pebuild"),
    ("{bootmgr}", 0x12000004, "element only in pebuild"),  # description
    ("{bootmgr}", 0x12000005, "element only in pebuild"),  # locale
    ("{bootmgr}", 0x23000003, "element only in pebuild"),  # default -> loader
    ("{bootmgr}", 0x24000001, "element only in pebuild"),  # displayorder
    ("{bootmgr}", 0x1200004A, "element only in Windows"),  # fontpath \boot\fonts
    ("{bootmgr}", 0x14000006, "value"),  # inherit {globalsettings} (-> dbg + ems) vs {dbgsettings}
    ("{dbgsettings}", None, "type"),  # 0x20100000 (as on media) vs 0x20100001
    ("options", 0x32000004, "value"),  # \Boot\boot.sdi vs \Boot\Boot.SDI (case, TFTP is case-sensitive)
}


def _roles(store: BcdStore) -> dict[uuid.UUID, str]:
    """Name objects by role so that differing GUIDs compare: loader, options, or the alias."""
    roles = {guid: alias for alias, guid in A.items() if alias not in ("{eventsettings}", "{legacy}")}
    bootmgr = store.objects.get(A["{bootmgr}"])
    if bootmgr and 0x23000003 in bootmgr.elements:
        loader = store.resolve("{default}")
        roles[loader] = "loader"
        device = store.get(loader, "osdevice")
        if device.options:
            roles[device.options] = "options"
    for guid, obj in store.objects.items():
        if obj.type == 0x30000000 and guid not in roles:
            roles[guid] = "options"
    return roles


def _normalise(value: Any, roles: dict[uuid.UUID, str]) -> Any:
    if isinstance(value, uuid.UUID):
        return roles.get(value, str(value))
    if isinstance(value, list):
        return [_normalise(v, roles) for v in value]
    if hasattr(value, "options") and value.options is not None:
        return (type(value).__name__, getattr(value, "path", None), roles.get(value.options))
    return value


def _view(store: BcdStore) -> dict[str, tuple[int | None, dict[int, Any]]]:
    roles = _roles(store)
    return {
        roles.get(guid, str(guid)): (
            obj.type,
            {eid: _normalise(decode_value(eid, v.type, v.data), roles) for eid, v in obj.elements.items()},
        )
        for guid, obj in store.objects.items()
    }


def differences(ours: BcdStore, theirs: BcdStore) -> set[tuple[str, int | None, str]]:
    mine, windows = _view(ours), _view(theirs)
    found: set[tuple[str, int | None, str]] = set()
    for role in set(mine) | set(windows):
        if role not in mine:
            found.add((role, None, "object only in Windows"))
            continue
        if role not in windows:
            found.add((role, None, "object only in pebuild"))
            continue
        (my_type, my_elements), (win_type, win_elements) = mine[role], windows[role]
        if my_type != win_type:
            found.add((role, None, "type"))
        for eid in set(my_elements) | set(win_elements):
            if eid not in my_elements:
                found.add((role, eid, "element only in Windows"))
            elif eid not in win_elements:
                found.add((role, eid, "element only in pebuild"))
            elif my_elements[eid] != win_elements[eid]:
                found.add((role, eid, "value"))
    return found


@needs_fixtures
@pytest.mark.parametrize(
    ("preset", "fixture"), [("iso-bios", "win10-setup-pcat"), ("iso-uefi", "win10-setup-efi")]
)
def test_media_presets_match_windows_setup_media(preset: str, fixture: str) -> None:
    theirs = BcdStore.open(BCD_FIXTURES / f"{fixture}.bcd")
    ours = presets.create(preset, PresetOptions(bootmenupolicy="standard"))
    assert differences(ours, theirs) == MEDIA_DIFFERENCES
    default = presets.create(preset)
    assert differences(default, theirs) == MEDIA_DIFFERENCES | {("loader", 0x250000C2, "value")}


@needs_fixtures
@pytest.mark.parametrize("preset", ["pxe-bios", "pxe-uefi"])
def test_pxe_presets_match_the_wds_store(preset: str) -> None:
    theirs = BcdStore.open(BCD_FIXTURES / "wds-default-x64-pxe.bcd")
    options = PresetOptions(tftp_block_size=1456, tftp_window_size=4, tftp_var_window=True)
    expected = set(PXE_DIFFERENCES)
    if preset == "pxe-uefi":  # bootmgfw.efi is a firmware application, WDS's BIOS template holds bootmgr.exe
        expected.add(("{bootmgr}", None, "type"))
    assert differences(presets.create(preset, options), theirs) == expected
    store = presets.create(preset, options)
    assert store.get("{ramdiskoptions}", "ramdisktftpblocksize") == 1456
    assert store.get("{default}", "osdevice").path == "\\Boot\\boot.wim"


def test_ems_and_options_reach_the_store(tmp_path: Path) -> None:
    require_tool("hivexregedit")
    store = presets.create(
        "iso-bios", PresetOptions(ems=(2, 57600), timeout=3, loadoptions="/noguiboot", locale="de-DE")
    )
    store.write(tmp_path / "BCD", timestamp=0)
    seen = bcd_elements(tmp_path / "BCD")  # hivex; element ids as bcdedit /enum /v names them
    ems, bootmgr = seen[f"{{{A['{emssettings}']}}}"], seen[f"{{{A['{bootmgr}']}}}"]
    default = seen[bootmgr["23000003"][1].decode("utf-16-le").rstrip("\0").lower()]
    assert ems["15000022"] == (3, (2).to_bytes(8, "little"))  # emsport
    assert ems["15000023"] == (3, (57600).to_bytes(8, "little"))  # emsbaudrate
    assert ems["16000020"] == bootmgr["16000020"] == (3, b"\x01")  # bootems (a library element)
    assert default["260000b0"] == (3, b"\x01")  # ems
    assert default["12000030"] == (1, reg_sz("/noguiboot"))
    assert default["12000005"] == (1, reg_sz("de-DE"))
    assert bootmgr["25000004"] == (3, (3).to_bytes(8, "little"))
    assert store.get("{emssettings}", "emsport") == 2
    assert store.get("{emssettings}", "emsbaudrate") == 57600
    assert store.get("{emssettings}", "bootems") is True
    assert store.get("{bootmgr}", "bootems") is True
    assert store.get("{default}", "ems") is True
    assert store.get("{default}", "loadoptions") == "/noguiboot"
    assert store.get("{bootmgr}", "timeout") == 3
    assert store.get("{default}", "locale") == "de-DE"


def test_presets_are_deterministic() -> None:
    one = presets.create("iso-uefi").serialize(timestamp=42)
    assert one == presets.create("iso-uefi").serialize(timestamp=42)
    assert presets.create("iso-uefi", timestamp=42).serialize() == one


@pytest.mark.parametrize("preset", presets.PRESETS)
def test_preset_stores_open_in_hivex_and_regipy(preset: str, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    from regipy.registry import RegistryHive

    out = tmp_path / "BCD"
    store = presets.create(preset, PresetOptions(ems=(1, 115200)))
    store.write(out, timestamp=0)
    check_structure(out.read_bytes())
    view = hivex_view(out)
    for guid, obj in store.objects.items():
        for eid, value in obj.elements.items():
            stored = view[f"Objects\\{{{guid}}}\\Elements\\{eid:08x}"]["Element"]
            assert value.data, f"{guid} {eid:08x}: empty element"
            assert stored == reg_data(value.type, value.data), (guid, f"{eid:08x}")
    reg = RegistryHive(str(out))
    timeout = reg.get_key(f"\\Objects\\{{{A['{bootmgr}']}}}\\Elements\\25000004")
    assert next(timeout.iter_values()).value == "1e00000000000000"


def test_bad_options_are_usage_errors() -> None:
    from pebuild.errors import UsageError

    for options in (
        PresetOptions(wim_path="sources/boot.wim"),
        PresetOptions(ems=(9, 115200)),
        PresetOptions(tftp_block_size=4),
    ):
        with pytest.raises(UsageError):
            presets.create("pxe-bios", options)
    with pytest.raises(UsageError):
        presets.create("usb-arm")
