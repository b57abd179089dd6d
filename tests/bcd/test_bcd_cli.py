"""`pebuild bcd ...` through the real CLI: happy paths and bad input (one line, exit code, file untouched)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from hive_check import bcd_elements, hivex_export, hivex_values, reg_sz

from _helpers import assert_one_line_error, require_tool
from pebuild.fsutil import sha256_file
from pebuild.hive import header_checksum

BOOTMGR = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}"
EMS = "{0ce4991b-e6b3-4b16-b23c-5e0d9250e5d9}"
DBG = "{4636856e-540f-4170-a130-a84776f4c654}"


def test_create_show_set_delete(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_tool("hivexregedit")
    store = tmp_path / "BCD"
    run_pebuild(
        "bcd", "create", str(store), "--preset", "iso-bios", "--ems", "1,115200", "--timeout", "7", check=True
    )
    shown = run_pebuild("bcd", "show", str(store), check=True).stdout
    assert "ramdisk=[boot]\\sources\\boot.wim,{ramdiskoptions}" in shown
    assert "timeout                 7" in shown
    assert "emsbaudrate             115200" in shown
    before = bcd_elements(store)
    assert before[BOOTMGR]["25000004"] == (3, (7).to_bytes(8, "little"))
    run_pebuild("bcd", "set", str(store), "{default}", "loadoptions", "/noguiboot", check=True)
    run_pebuild("bcd", "set", str(store), "{bootmgr}", "timeout", "0x10", check=True)
    run_pebuild("bcd", "delete", str(store), "{bootmgr}", "displayorder", check=True)
    # hivex: exactly these three element changes, under the object {bootmgr}'s default names
    after = bcd_elements(store)
    default = before[BOOTMGR]["23000003"][1].decode("utf-16-le").rstrip("\0").lower()
    assert "24000001" in before[BOOTMGR] and "12000030" not in before[default]
    before[BOOTMGR]["25000004"] = (3, (16).to_bytes(8, "little"))
    del before[BOOTMGR]["24000001"]
    before[default]["12000030"] = (1, reg_sz("/noguiboot"))
    assert after == before
    raw = hivex_values(store)
    document = json.loads(run_pebuild("bcd", "show", str(store), "--json", check=True).stdout)
    bootmgr = document["objects"]["{9dea862c-5cdd-4e70-acc1-f32b344d4795}"]["elements"]
    assert bootmgr["25000004"]["value"] == 16 and "24000001" not in bootmgr
    assert any(
        e.get("value") == "/noguiboot"
        for o in document["objects"].values()
        for e in o.get("elements", {}).values()
    )
    run_pebuild("bcd", "delete", str(store), "{emssettings}", check=True)
    assert EMS in after and DBG in after
    gone = {k: v for k, v in raw.items() if not k.lower().startswith(f"objects\\{EMS}")}
    assert len(gone) < len(raw) and hivex_values(store) == gone  # the object's whole subtree, nothing else
    shown = run_pebuild("bcd", "show", str(store), check=True).stdout
    assert "identifier              {emssettings}" not in shown
    assert "identifier              {dbgsettings}" in shown


def test_create_refuses_to_overwrite(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "BCD"
    run_pebuild("bcd", "create", str(store), "--preset", "pxe-uefi", "--tftp-block-size", "1456", check=True)
    digest = sha256_file(store)
    assert_one_line_error(run_pebuild("bcd", "create", str(store), "--preset", "iso-uefi"), 8)
    assert sha256_file(store) == digest
    run_pebuild("bcd", "create", str(store), "--preset", "iso-uefi", "--force", check=True)


def test_export_import_round_trip(run_pebuild, bcd_fixtures: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_tool("hivexregedit")
    fixture = bcd_fixtures / "ntloader-template.bcd"
    exported = tmp_path / "bcd.json"
    imported = tmp_path / "BCD"
    run_pebuild("bcd", "export", str(fixture), "-o", str(exported), check=True)
    run_pebuild("bcd", "import", str(exported), "-o", str(imported), check=True)
    assert hivex_export(imported) == (bcd_fixtures / "ntloader-template.bcd.reg").read_text()


def _bad_files(src: bytes, tmp_path: Path) -> dict[str, Path]:
    files = {}
    files["not-a-hive"] = tmp_path / "text.bcd"
    files["not-a-hive"].write_text("hello\n" * 2000)
    files["truncated"] = tmp_path / "truncated.bcd"
    files["truncated"].write_bytes(src[: len(src) // 2])
    bad = bytearray(src)
    bad[508] ^= 0xFF
    files["bad-checksum"] = tmp_path / "checksum.bcd"
    files["bad-checksum"].write_bytes(bytes(bad))
    dirty = bytearray(src)
    struct.pack_into("<I", dirty, 8, struct.unpack_from("<I", dirty, 4)[0] + 1)
    struct.pack_into("<I", dirty, 508, header_checksum(bytes(dirty[:512])))
    files["dirty"] = tmp_path / "dirty.bcd"
    files["dirty"].write_bytes(bytes(dirty))
    return files


@pytest.mark.parametrize("case", ["not-a-hive", "truncated", "bad-checksum", "dirty"])
@pytest.mark.parametrize("verb", ["show", "set", "export"])
def test_bad_stores_give_one_line_errors(
    run_pebuild, bcd_fixtures: Path, tmp_path: Path, case: str, verb: str
) -> None:  # type: ignore[no-untyped-def]
    path = _bad_files((bcd_fixtures / "wds-default-x64-pxe.bcd").read_bytes(), tmp_path)[case]
    digest = sha256_file(path)
    args = {
        "show": ["bcd", "show", str(path)],
        "set": ["bcd", "set", str(path), "{bootmgr}", "timeout", "5"],
        "export": ["bcd", "export", str(path), "-o", str(tmp_path / "out.json")],
    }[verb]
    proc = run_pebuild(*args)
    assert_one_line_error(proc, 5)
    assert sha256_file(path) == digest
    assert not (tmp_path / "out.json").exists()
    if case == "dirty":
        assert "dirty" in proc.stderr


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["{bootmgr}", "timeout", "soon"], 2, "integer"),
        (["--", "{bootmgr}", "timeout", "-1"], 2, "integer"),
        (["{default}", "winpe", "perhaps"], 2, "yes/no"),
        (["{default}", "osdevice", "cdrom"], 2, "bad device"),
        (["{nonsense}", "timeout", "1"], 2, "unknown object identifier"),
        (["{bootmgr}", "frobnicate", "1"], 2, "unknown element name"),
        (["{fwbootmgr}", "timeout", "1"], 2, "has no object"),
    ],
)
def test_bad_edits_leave_the_store_unchanged(
    run_pebuild, bcd_fixtures: Path, tmp_path: Path, args, code, needle
) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "BCD"
    shutil.copy(bcd_fixtures / "win10-setup-pcat.bcd", store)
    digest = sha256_file(store)
    proc = run_pebuild("bcd", "set", str(store), *args)
    assert_one_line_error(proc, code)
    assert needle in proc.stderr
    assert sha256_file(store) == digest


def test_bad_json_import(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "bad.json"
    source.write_text('{"format": "something-else"}')
    assert_one_line_error(run_pebuild("bcd", "import", str(source), "-o", str(tmp_path / "BCD")), 5)
    source.write_text("{not json")
    assert_one_line_error(run_pebuild("bcd", "import", str(source), "-o", str(tmp_path / "BCD")), 5)
    assert not (tmp_path / "BCD").exists()


def test_help_has_examples(run_pebuild) -> None:  # type: ignore[no-untyped-def]
    out = run_pebuild("bcd", "--help", check=True).stdout
    assert "Examples:" in out and "pebuild bcd create" in out


@pytest.mark.parametrize(
    "name",
    [
        "win10-setup-pcat",
        "win10-setup-efi",
        "wds-default-x64-pxe",
        "installed-bios-vhd-regf15",
        "ntloader-template",
    ],
)
def test_show_every_fixture(run_pebuild, bcd_fixtures: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    shown = run_pebuild("bcd", "show", str(bcd_fixtures / f"{name}.bcd"), check=True).stdout
    assert "identifier              {bootmgr}" in shown
    assert "Traceback" not in shown
