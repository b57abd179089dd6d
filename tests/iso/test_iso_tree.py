"""The file tree through the ISO 9660, Joliet and UDF views, read back by isoinfo, 7z and udfinfo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from iso_support import iso_extents, isoinfo_extract, run, sevenzip_list

from _helpers import require_tool
from pebuild.errors import FormatError
from pebuild.iso import IsoRequest, write_iso


def _iso(kit, tmp_path: Path, **kw) -> Path:
    out = tmp_path / "t.iso"
    write_iso(IsoRequest(kit.media, out, kit.bios, kit.uefi, timestamp=1_600_000_000, **kw))
    return out


def test_iso_tree_iso9660_view(kit, tmp_path):
    require_tool("isoinfo")
    iso = _iso(kit, tmp_path)
    names = set(iso_extents(iso))
    assert {"/BOOTMGR.;1", "/BOOT/BCD.;1", "/SOURCES/BOOT.WIM;1", "/EFI/MICROSOFT/BOOT/BCD.;1"} <= names
    assert "/TOOLS/SOME_LONG_MIXED_CASE_TOOL_N.EXE;1" in names  # level 3: name + ext = 30
    # 8 directory levels are the ISO 9660 limit: the deep file lives in Joliet and UDF only
    assert not any("DEEP" in n for n in names)
    assert isoinfo_extract(iso, "/SOURCES/BOOT.WIM;1") == kit.files["sources/boot.wim"]
    assert isoinfo_extract(iso, "/a/b/c/d/e/f/g/h/deep file.txt", joliet=True) == b"deep"
    out = tmp_path / "x"
    run("7z", "x", "-tiso", f"-o{out}", iso, "sources")
    assert (out / "sources" / "boot.wim").read_bytes() == kit.files["sources/boot.wim"]


def test_iso_tree_joliet_view(kit, tmp_path):
    require_tool("isoinfo")
    iso = _iso(kit, tmp_path)
    joliet = set(run("isoinfo", "-J", "-f", "-i", iso).splitlines())
    for rel in kit.files:
        assert "/" + rel in joliet, rel
    assert "/Tools/Some Long Mixed-Case Tool Name v2.exe" in joliet


def test_iso_tree_udf_view(kit, tmp_path):
    require_tool("udfinfo")
    require_tool("7z")
    iso = _iso(kit, tmp_path)
    listing = sevenzip_list(iso, "udf")
    assert listing == {rel: len(data) for rel, data in kit.files.items()}
    udf = dict(line.split("=", 1) for line in run("udfinfo", iso).splitlines() if "=" in line)
    assert int(udf["numfiles"]) == len(kit.files)
    dirs = {str(Path(rel).parents[i]) for rel in kit.files for i in range(len(Path(rel).parents) - 1)}
    assert int(udf["numdirs"]) == len(dirs) + 1  # + root
    out = tmp_path / "x"
    run("7z", "x", "-tudf", f"-o{out}", iso)
    for rel, data in kit.files.items():
        assert (out / rel).read_bytes() == data, rel


def test_iso_tree_without_udf_and_joliet(kit, tmp_path):
    require_tool("isoinfo")
    with pytest.raises(FormatError, match="deeper than the 8 directory levels"):
        _iso(kit, tmp_path, udf=False, joliet=False)
    shutil.rmtree(kit.media / "a")
    iso = _iso(kit, tmp_path, udf=False, joliet=False)
    info = run("isoinfo", "-d", "-i", iso)
    assert "NO Joliet present" in info
    assert "Udf" not in run("7z", "l", "-slt", iso).split("Type = ")[1].split("\n")[0]
    assert "/SOURCES/BOOT.WIM;1" in iso_extents(iso)


def test_iso_tree_long_and_odd_names(kit, tmp_path):
    require_tool("isoinfo")
    long_name = "L" * 100 + ".txt"
    (kit.media / long_name).write_bytes(b"long")
    (kit.media / ("L" * 99 + "M.txt")).write_bytes(b"long2")  # same 64-character Joliet prefix
    (kit.media / "semi;colon?.txt").write_bytes(b"odd")
    iso = _iso(kit, tmp_path)
    joliet = [
        n.lstrip("/") for n in run("isoinfo", "-J", "-f", "-i", iso).splitlines() if "/" not in n.lstrip("/")
    ]
    longs = sorted(n for n in joliet if n.startswith("LLLL"))
    assert longs == ["L" * 60 + ".txt", "L" * 56 + "_001.txt"]  # 64 UCS-2 characters, extension kept
    assert "semi_colon_.txt" in joliet
    udf = sevenzip_list(iso, "udf")
    assert udf[long_name] == 4 and udf["semi;colon?.txt"] == 3  # UDF keeps the names as they are
    iso_names = set(iso_extents(iso))
    assert "/SEMI_COLON_.TXT;1" in iso_names and "/" + "L" * 27 + ".TXT;1" in iso_names
