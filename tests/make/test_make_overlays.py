"""Overlays (shipped and custom), other source kinds as build inputs, overlay.toml errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import require_tool

sys.path.insert(0, str(Path(__file__).parents[1] / "source"))
import pebuild_test_kits as kits

from pebuild.errors import RecipeError, SourceError
from pebuild.make import BuildRequest, build


def wim_dir(wim: Path) -> set[str]:
    require_tool("wimlib-imagex")
    out = subprocess.run(["wimlib-imagex", "dir", str(wim), "1"], capture_output=True, text=True, check=True)
    return set(out.stdout.split("\n"))


def _build(tmp_path: Path, source: Path, recipe_text: str, arch: str = "amd64"):
    recipe = tmp_path / "r.toml"
    recipe.write_text(recipe_text)
    return build(
        BuildRequest(
            arch=arch,
            recipe=recipe,
            source=str(source),
            output=tmp_path / "out.iso",
            media_dir=tmp_path / "media",
            timestamp=1_700_000_000,
        )
    )


def test_shipped_tool_overlays(tmp_path: Path) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path)
    result = _build(
        tmp_path,
        kit,
        'overlays = ["imagex", "servicing", "msxml", "wimscript"]\n[variables]\ntools_dir = "Tools"\n',
    )
    names = wim_dir(tmp_path / "media/sources/boot.wim")
    for p in (
        "/Tools/imagex.exe",
        "/Tools/wimscript.ini",
        "/Tools/Servicing/pkgmgr.exe",
        "/Tools/msxml6.dll",
        "/Tools/msxml6r.dll",
    ):
        assert p in names, p
    pe = result.manifest["pe_files"]
    assert {k for k in pe if k.startswith("image:")} == {
        "image:Tools/imagex.exe",
        "image:Tools/Servicing/pkgmgr.exe",
        "image:Tools/msxml6.dll",
        "image:Tools/msxml6r.dll",
    }


def test_custom_overlay_on_media_with_template(tmp_path: Path) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path)
    ov = tmp_path / "my-overlay"
    (ov / "files").mkdir(parents=True)
    (ov / "files" / "readme.txt.j2").write_text("built for {{ arch }}\nby {{ who }}\n")
    (ov / "files" / "tool.exe").write_bytes(kits.pe_standin("tool.exe", "amd64"))
    (ov / "overlay.toml").write_text(
        '[[file]]\nbundled = "files/readme.txt.j2"\ntemplate = true\ndest = "README.TXT"\non = "media"\n'
        '[[file]]\nbundled = "files/tool.exe"\ndest = "tools/{{ arch }}/tool.exe"\non = "media"\n'
    )
    result = _build(tmp_path, kit, 'overlays = ["./my-overlay"]\n[variables]\nwho = "ci"\n')
    assert (tmp_path / "media/README.TXT").read_bytes() == b"built for amd64\r\nby ci\r\n"
    assert (tmp_path / "media/tools/amd64/tool.exe").is_file()
    assert result.manifest["pe_files"]["media:tools/amd64/tool.exe"]["arch"] == "amd64"


def test_media_pe_of_wrong_arch_is_refused(tmp_path: Path) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path)
    (tmp_path / "tool.exe").write_bytes(kits.pe_standin("tool.exe", "arm64"))
    with pytest.raises(RecipeError, match=r"tool\.exe .* is an arm64 PE file but the build is for amd64"):
        _build(tmp_path, kit, '[[files.add]]\nsource = "tool.exe"\ndest = "tool.exe"\non = "media"\n')


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[[file]]\nkit = "a"\nbundled = "b"\ndest = "x"\n', 1, "exactly one of 'kit' or 'bundled'"),
        ('[[file]]\nkit = "a"\ndest = "x"\nwhere = "image"\n', 4, "unknown key 'where'"),
        ('[[file]]\nkit = "a"\ndest = "x"\non = "disk"\n', 4, "not one of image, media"),
        ('name = "x"\n', 1, "unknown key 'name'"),
        ('[[file]]\nbundled = "missing.txt"\ndest = "x"\n', 2, "bundled file not found"),
    ],
)
def test_bad_overlay_toml(tmp_path: Path, text: str, line: int, words: str) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path)
    ov = tmp_path / "bad"
    ov.mkdir()
    (ov / "overlay.toml").write_text(text)
    with pytest.raises(RecipeError) as info:
        _build(tmp_path, kit, 'overlays = ["./bad"]\n')
    assert str(info.value).startswith(f"{ov / 'overlay.toml'}:{line}: ") and words in str(info.value)


def test_tool_overlay_on_a_source_without_tools(tmp_path: Path) -> None:
    tree = kits.make_install_tree(tmp_path / "dvd", "amd64", tmp_path)
    with pytest.raises(SourceError, match=r"has no imagex\.exe for amd64: looked in"):
        _build(tmp_path, tree, 'overlays = ["imagex"]\n')


def test_waik_ia64_build(tmp_path: Path) -> None:
    waik = kits.make_waik(tmp_path / "waik", "ia64", tmp_path)
    result = _build(tmp_path, waik, 'overlays = ["imagex"]\n', arch="ia64")
    assert (tmp_path / "media/efi/boot/bootia64.efi").is_file() and not (tmp_path / "media/bootmgr").exists()
    assert result.manifest["pe_files"]["image:Windows/System32/imagex.exe"]["arch"] == "ia64"
    assert result.manifest["source"]["kind"] == "waik"


def test_bare_wim_build_takes_everything_from_the_image(tmp_path: Path) -> None:
    wim = kits.make_wim(tmp_path / "winpe.wim", "amd64", tmp_path)
    result = _build(tmp_path, wim, "[media]\nprompt = false\n")
    media = tmp_path / "media"
    assert (media / "bootmgr").read_bytes() == kits.bios("bootmgr")
    assert (media / "efi/boot/bootx64.efi").read_bytes() == kits.efi("bootmgfw.efi", "amd64")
    assert result.manifest["source"]["kind"] == "wim"
    assert not (media / "boot/bootfix.bin").exists()


def test_copype_from_a_bare_wim_generates_the_stores(tmp_path: Path) -> None:
    from pebuild.make import CopypeRequest, copype

    wim = kits.make_wim(tmp_path / "boot.wim", "amd64", tmp_path, omit=("BCD",))
    result = copype(CopypeRequest(arch="amd64", dest=tmp_path / "pe", source=str(wim), timestamp=1))
    assert result.source_kind == "wim"
    require_tool("hivexregedit")
    for store in ("boot/bcd", "efi/microsoft/boot/bcd"):
        out = subprocess.run(
            ["hivexregedit", "--export", str(tmp_path / "pe/media" / store), "\\"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "{9dea862c-5cdd-4e70-acc1-f32b344d4795}" in out  # {bootmgr}
    assert (tmp_path / "pe/fwfiles/etfsboot.com").read_bytes() == kits.bios("etfsboot.com")
    assert (tmp_path / "pe/mount").is_dir() and not any((tmp_path / "pe/mount").iterdir())
