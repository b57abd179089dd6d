"""Source detection and boot-file lookup on generated ADK, WAIK, install, copype and WIM sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import require_tool

sys.path.insert(0, str(Path(__file__).parent))
import pebuild_test_kits as kits

from pebuild.errors import SourceError
from pebuild.source import open_source

BOOT_FILES = (
    "bootmgr",
    "bootmgr.efi",
    "bootmgfw.efi",
    "boot.sdi",
    "etfsboot.com",
    "efisys.bin",
    "fonts/wgl4_boot.ttf",
)


def test_adk_layout(tmp_path: Path) -> None:
    root = kits.make_adk(tmp_path / "kit", "amd64", tmp_path)
    with open_source(root, "amd64") as src:
        assert (src.kind, src.default_index) == ("adk", 1)
        assert src.boot_wim_path(tmp_path).name == "winpe.wim"
        for name in BOOT_FILES:
            assert src.has_boot_file(name), name
        assert (
            src.boot_file("etfsboot.com")
            == (root / "Deployment Tools/amd64/Oscdimg/etfsboot.com").read_bytes()
        )
        assert src.fonts() == ["wgl4_boot.ttf"]
        assert src.tool_file("imagex.exe").name == "imagex.exe"
        assert src.tool_file("Servicing").is_dir()
        assert [p.name for p in src.tool_files("msxml6*.dll")] == ["msxml6.dll", "msxml6r.dll"]
        # PXE files exist only inside the image: fallback to Windows/Boot/PXE
        assert src.boot_file("pxe/pxeboot.n12") == kits.bios("pxeboot.n12")


def test_adk_wrong_arch_lists_what_is_there(tmp_path: Path) -> None:
    root = kits.make_adk(tmp_path / "kit", "amd64", tmp_path)
    with pytest.raises(SourceError) as info:
        open_source(root, "arm64")
    msg = str(info.value)
    assert "Windows Preinstallation Environment/arm64" in msg and "arches present: amd64" in msg


@pytest.mark.parametrize("arch", ["x86", "ia64"])
def test_waik_layout(tmp_path: Path, arch: str) -> None:
    root = kits.make_waik(tmp_path / "waik", arch, tmp_path)
    with open_source(root, arch) as src:
        assert src.kind == "waik"
        assert src.boot_file("etfsboot.com") == kits.bios("etfsboot.com")
        assert src.has_boot_file("bootmgfw.efi")
        assert src.tool_file("imagex.exe").parent.name == arch


def test_waik_has_no_arm64(tmp_path: Path) -> None:
    root = kits.make_waik(tmp_path / "waik", "amd64", tmp_path)
    with pytest.raises(SourceError, match=r"WAIK 1\.x has no arm64"):
        open_source(root, "arm64")


def test_install_tree_defaults_to_image_2(tmp_path: Path) -> None:
    root = kits.make_install_tree(tmp_path / "dvd", "amd64", tmp_path)
    with open_source(root, "amd64") as src:
        assert (src.kind, src.default_index) == ("install-tree", 2)
        assert src.boot_file("efisys.bin")[:3] == b"\xeb\x3c\x90"
        with pytest.raises(SourceError, match=r"has no imagex\.exe"):
            src.tool_file("imagex.exe")


@pytest.mark.parametrize("udf", [False, True], ids=["joliet-rr", "udf"])
def test_install_iso_read_in_place(tmp_path: Path, udf: bool) -> None:
    require_tool("genisoimage" if udf else "xorriso")
    iso = kits.make_install_iso(tmp_path / "win.iso", "amd64", tmp_path, udf=udf)
    with open_source(iso, "amd64") as src:
        assert (src.kind, src.default_index) == ("install-iso", 2)
        work = tmp_path / "work"
        work.mkdir()
        wim = src.boot_wim_path(work)
        assert wim.parent == work
        assert wim.read_bytes() == (tmp_path / "install-tree/sources/boot.wim").read_bytes()
        assert src.boot_file("bootmgr") == (tmp_path / "install-tree/bootmgr").read_bytes()
        assert src.fonts() == ["wgl4_boot.ttf"]


def test_bare_wim_takes_boot_files_from_inside(tmp_path: Path) -> None:
    require_tool("wimlib-imagex")
    wim = kits.make_wim(tmp_path / "boot.wim", "amd64", tmp_path, images=2)
    with open_source(wim, "amd64") as src:
        assert src.kind == "wim"
        assert src.default_index == 2  # the WIM's boot index
        assert src.boot_file("bootmgr") == kits.bios("bootmgr")
        assert src.boot_file("etfsboot.com") == kits.bios("etfsboot.com")
        assert src.fonts() == ["wgl4_boot.ttf"]
        # independent reader: the file we got is the one wimlib-imagex lists in the image
        out = subprocess.run(
            ["wimlib-imagex", "dir", str(wim), "1", "--path", "/Windows/Boot/DVD/PCAT"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "/Windows/Boot/DVD/PCAT/etfsboot.com" in out
        with pytest.raises(SourceError) as info:
            src.boot_file("bootfix.bin")
        msg = str(info.value)
        assert "Windows/Boot/DVD/PCAT/bootfix.bin" in msg and "Windows/Boot/PCAT/bootfix.bin" in msg


@pytest.mark.parametrize(
    ("omit", "name", "where"),
    [
        ("etfsboot.com", "etfsboot.com", "Deployment Tools/amd64/Oscdimg/etfsboot.com"),
        ("bootfix.bin", "bootfix.bin", "Media/boot/bootfix.bin"),
        ("efisys_noprompt.bin", "efisys_noprompt.bin", "Oscdimg/efisys_noprompt.bin"),
    ],
)
def test_missing_part_lists_where_it_looked(tmp_path: Path, omit: str, name: str, where: str) -> None:
    root = kits.make_adk(tmp_path / "kit", "amd64", tmp_path, omit=(omit, "Boot/bootfix.bin"))
    with open_source(root, "amd64") as src, pytest.raises(SourceError) as info:
        src.boot_file(name)
    msg = str(info.value)
    assert f"has no {name} for amd64" in msg and where in msg and "winpe.wim:Windows/Boot" in msg


def test_missing_winpe_wim(tmp_path: Path) -> None:
    root = kits.make_adk(tmp_path / "kit", "amd64", tmp_path, omit=("winpe.wim",))
    with pytest.raises(SourceError, match=r"no winpe.wim for amd64: looked for .*en-us/winpe.wim"):
        open_source(root, "amd64")


def test_unrecognised_directory_lists_every_kind(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError) as info:
        open_source(tmp_path / "empty", "amd64")
    msg = str(info.value)
    for kind in ("copype", "adk", "waik", "install-tree", "install-iso", "wim"):
        assert f"{kind}:" in msg
    with pytest.raises(SourceError, match="source not found"):
        open_source(tmp_path / "nope", "amd64")
