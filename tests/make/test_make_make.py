"""End-to-end builds on generated ADK-shaped kits, checked with independent readers.

wimlib-imagex (image contents), hivexregedit (BCD stores), xorriso and isoinfo
(ISO and El Torito catalog). The kits' boot programs are the sample stand-ins.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool

sys.path.insert(0, str(Path(__file__).parents[1] / "source"))
import pebuild_test_kits as kits

from pebuild.errors import RecipeError
from pebuild.fsutil import sha256_file
from pebuild.make import BuildRequest, build

REPO = Path(__file__).resolve().parents[2]
CAPTURE = REPO / "recipes" / "capture.toml"
EPOCH = 1_700_000_000


@pytest.fixture(scope="module")
def kit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kits")
    for arch in ("x86", "amd64", "arm64", "ia64"):
        kits.make_adk(root / "adk", arch, root / f"work-{arch}")
    return root / "adk"


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def wim_files(wim: Path, index: int = 1) -> set[str]:
    require_tool("wimlib-imagex")
    return {line.strip() for line in run("wimlib-imagex", "dir", str(wim), str(index)).splitlines()}


def wim_cat(wim: Path, path: str, index: int = 1) -> bytes:
    return subprocess.run(
        ["wimlib-imagex", "extract", str(wim), str(index), path, "--to-stdout"],
        capture_output=True,
        check=True,
    ).stdout


def bcd_elements(bcd: Path) -> list[tuple[int, bytes]]:
    """(registry type, data) of every Element value in a BCD, from hivexregedit's export."""
    require_tool("hivexregedit")
    out = run("hivexregedit", "--export", str(bcd), "\\")
    values = []
    for m in re.finditer(r'"Element"=hex\((\d+)\):([0-9a-f,\s\\]*)', out):
        raw = bytes.fromhex(m.group(2).replace(",", "").replace("\\", "").replace("\n", "").replace(" ", ""))
        values.append((int(m.group(1)), raw))
    return values


def bcd_strings(bcd: Path) -> list[str]:
    """Every REG_SZ element, decoded (independent of pebuild)."""
    return [raw.decode("utf-16-le").rstrip("\0") for typ, raw in bcd_elements(bcd) if typ == 1]


def el_torito(iso: Path) -> list[tuple[str, int]]:
    """(platform, LBA) of each El Torito entry, from xorriso."""
    require_tool("xorriso")
    out = subprocess.run(
        ["xorriso", "-indev", str(iso), "-report_el_torito", "plain"], capture_output=True, text=True
    ).stdout
    return [
        (m.group(1), int(m.group(2)))
        for m in re.finditer(
            r"El Torito boot img :\s+\d+\s+(BIOS|UEFI)\s+y\s+none\s+\S+\s+\S+\s+\d+\s+(\d+)", out
        )
    ]


def make(kit: Path, tmp: Path, arch: str = "amd64", recipe: Path = CAPTURE, **kw: object):
    req = BuildRequest(
        arch=arch,
        recipe=recipe,
        source=str(kit),
        output=tmp / "out.iso",
        media_dir=tmp / "media",
        manifest=tmp / "manifest.json",
        timestamp=EPOCH,
        **kw,  # type: ignore[arg-type]
    )
    return build(req)


def test_amd64_capture_build(kit_dir: Path, tmp_path: Path) -> None:
    result = make(kit_dir, tmp_path)
    media = tmp_path / "media"
    wim = media / "sources" / "boot.wim"
    # image contents: the overlays and startup files are in, read back by wimlib-imagex
    names = wim_files(wim)
    for p in (
        "/Windows/System32/imagex.exe",
        "/Windows/System32/wimscript.ini",
        "/Windows/System32/startnet.cmd",
    ):
        assert p in names
    startnet = wim_cat(wim, "/Windows/System32/startnet.cmd").decode()
    assert startnet.startswith("wpeinit\r\n")
    assert "net use Z: \\\\deploy01\\images\r\n" in startnet
    ini = wim_cat(wim, "/Windows/System32/wimscript.ini").decode()
    assert ini.startswith("[ExclusionList]\r\n\\$ntfs.log\r\n") and "\\Windows\\Temp\\*\r\n" in ini
    assert "[CompressionExclusionList]\r\n*.mp3\r\n" in ini
    info = run("wimlib-imagex", "info", str(wim))
    assert re.search(r"Boot Index:\s+1", info)
    assert "WinPE capture (amd64)" in info
    # media tree as copype lays it out, plus the ownership marker (pebuild.outputs), not part of the media
    marker = json.loads((media / ".pebuild-tree.json").read_text())
    assert marker["kind"] == "media"
    files = sorted(
        p.relative_to(media).as_posix()
        for p in media.rglob("*")
        if p.is_file() and p.name != ".pebuild-tree.json"
    )
    assert [f["path"] for f in marker["files"]] == files
    assert files == [
        "boot/bcd",
        "boot/boot.sdi",
        "boot/bootfix.bin",
        "boot/fonts/wgl4_boot.ttf",
        "bootmgr",
        "bootmgr.efi",
        "efi/boot/bootx64.efi",
        "efi/microsoft/boot/bcd",
        "efi/microsoft/boot/fonts/wgl4_boot.ttf",
        "sources/boot.wim",
    ]
    # BCDs: generated from the presets with the recipe's [bcd] settings
    for store in ("boot/bcd", "efi/microsoft/boot/bcd"):
        strings = bcd_strings(media / store)
        assert "WinPE capture" in strings
        assert "\\boot\\boot.sdi" in strings
        # the ramdisk device element (binary) names the WIM path in UTF-16
        wim_path = "\\sources\\boot.wim".encode("utf-16-le")
        assert any(wim_path in raw for typ, raw in bcd_elements(media / store) if typ == 3)
    # ISO: BIOS + UEFI entries; the BIOS image is etfsboot.com, the UEFI one efisys.bin
    entries = el_torito(tmp_path / "out.iso")
    assert [p for p, _ in entries] == ["BIOS", "UEFI"]
    data = (tmp_path / "out.iso").read_bytes()
    etfs = (kit_dir / "Deployment Tools/amd64/Oscdimg/etfsboot.com").read_bytes()
    efisys = (kit_dir / "Deployment Tools/amd64/Oscdimg/efisys.bin").read_bytes()
    assert data[entries[0][1] * 2048 :][: len(etfs)] == etfs
    assert data[entries[1][1] * 2048 :][: len(efisys)] == efisys
    require_tool("udfinfo")
    assert "label=CAPTURE" in run("udfinfo", str(tmp_path / "out.iso"))
    require_tool("isoinfo")
    listing = run("isoinfo", "-J", "-f", "-i", str(tmp_path / "out.iso")).split()
    assert "/sources/boot.wim" in listing and "/efi/boot/bootx64.efi" in listing
    # manifest: every media file with its sha256, PE files, WIM, BCD dumps, recipe hash, versions
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["manifest_version"] == 2
    listed = {e["path"]: e for e in manifest["outputs"]["media"]}
    assert sorted(listed) == files
    for rel, entry in listed.items():
        assert entry["sha256"] == sha256_file(media / rel)
        assert entry["size"] == (media / rel).stat().st_size
    assert manifest["outputs"]["iso"]["sha256"] == sha256_file(tmp_path / "out.iso") == result.iso_sha256
    assert manifest["pe_files"]["image:Windows/System32/imagex.exe"]["arch"] == "amd64"
    assert manifest["pe_files"]["media:efi/boot/bootx64.efi"]["subsystem"] == "efi-application"
    assert manifest["wim"]["images"][0]["name"] == "WinPE capture (amd64)"
    assert set(manifest["bcd"]) == {"bios", "uefi"}
    assert manifest["recipe"]["sha256"] == result.manifest["recipe"]["sha256"]
    assert "libwim" in manifest["tools"] and "pebuild" in manifest["tools"]


def test_reproducible_iso_and_manifest(kit_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    make(kit_dir, tmp_path / "a")
    make(kit_dir, tmp_path / "b")
    assert (tmp_path / "a/out.iso").read_bytes() == (tmp_path / "b/out.iso").read_bytes()
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    assert sha256_file(tmp_path / "a/media/sources/boot.wim") == sha256_file(
        tmp_path / "b/media/sources/boot.wim"
    )


def test_manifest_is_the_same_from_another_checkout(kit_dir: Path, tmp_path: Path) -> None:
    """Two workspaces holding the same recipe, local overlay and files give byte-identical outputs."""
    for ws in ("ws-one", "ws-two"):
        recipes = tmp_path / ws / "recipes"
        (recipes / "ov").mkdir(parents=True)
        (recipes / "ov/overlay.toml").write_text(
            '[[file]]\nbundled = "note.txt"\ndest = "Windows/note.txt"\n'
        )
        (recipes / "ov/note.txt").write_text("overlay note\r\n")
        (recipes / "extra.txt").write_text("extra\r\n")
        (recipes / "r.toml").write_text(
            'overlays = ["imagex", "./ov"]\n[[files.add]]\nsource = "extra.txt"\ndest = "Windows/extra.txt"\n'
        )
        (tmp_path / ws / "out").mkdir()
        make(kit_dir, tmp_path / ws / "out", recipe=recipes / "r.toml")
    one, two = (tmp_path / ws / "out" for ws in ("ws-one", "ws-two"))
    manifest = json.loads((one / "manifest.json").read_text())
    assert "./ov" not in manifest["recipe"]["settings"]["overlays"]
    assert not any(str(tmp_path) in p for p in manifest["recipe"]["settings"]["overlays"])
    # a shipped overlay is recorded by name: a pip install and a checkout hold it at different paths
    assert manifest["recipe"]["settings"]["overlays"] == ["imagex", "ov"]
    assert (one / "manifest.json").read_bytes() == (two / "manifest.json").read_bytes()
    assert (one / "out.iso").read_bytes() == (two / "out.iso").read_bytes()


@pytest.mark.parametrize(("arch", "efi"), [("arm64", "bootaa64.efi"), ("ia64", "bootia64.efi")])
def test_uefi_only_media(kit_dir: Path, tmp_path: Path, arch: str, efi: str) -> None:
    result = make(kit_dir, tmp_path, arch=arch)
    media = tmp_path / "media"
    assert (media / "efi/boot" / efi).is_file()
    for bios_only in ("bootmgr", "boot/bcd", "boot/bootfix.bin", "boot/fonts"):
        assert not (media / bios_only).exists(), bios_only
    assert [p for p, _ in el_torito(tmp_path / "out.iso")] == ["UEFI"]
    assert set(result.manifest["bcd"]) == {"uefi"}
    assert result.manifest["pe_files"][f"media:efi/boot/{efi}"]["arch"] == arch


def test_x86_media_and_noprompt(kit_dir: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('overlays = ["imagex"]\n[media]\nprompt = false\nudf = false\n')
    result = make(kit_dir, tmp_path, arch="x86", recipe=recipe)
    media = tmp_path / "media"
    assert (media / "efi/boot/bootia32.efi").is_file()
    assert not (media / "boot/bootfix.bin").exists()
    entries = el_torito(tmp_path / "out.iso")
    noprompt = (kit_dir / "Deployment Tools/x86/Oscdimg/efisys_noprompt.bin").read_bytes()
    data = (tmp_path / "out.iso").read_bytes()
    assert data[entries[1][1] * 2048 :][: len(noprompt)] == noprompt
    assert result.manifest["pe_files"]["image:Windows/System32/imagex.exe"]["arch"] == "x86"
    # udf = false: udfinfo (udftools) finds no UDF volume; the capture build above has one
    require_tool("udfinfo")
    assert subprocess.run(["udfinfo", str(tmp_path / "out.iso")], capture_output=True).returncode != 0


def test_arch_mismatch_names_file_and_both_arches(tmp_path: Path) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path, tool_arch="x86")
    with pytest.raises(RecipeError) as info:
        make(kit, tmp_path)
    msg = str(info.value)
    assert "Windows/System32/imagex.exe" in msg and "x86 PE file" in msg and "for amd64" in msg
    assert not (tmp_path / "out.iso").exists()
    assert not list(tmp_path.glob(".pebuild-build-*"))  # removed on failure


def test_keep_leaves_the_build_directory(kit_dir: Path, tmp_path: Path) -> None:
    result = make(kit_dir, tmp_path, keep=True)
    assert result.build_dir is not None and (result.build_dir / "media/sources/boot.wim").is_file()
    assert (result.build_dir / "fwfiles/etfsboot.com").is_file()


def test_recipe_arch_restriction(kit_dir: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('\narch = "amd64"\n')
    with pytest.raises(RecipeError, match=r"r\.toml:2: arch: this recipe is for amd64, not x86"):
        make(kit_dir, tmp_path, arch="x86", recipe=recipe)


def test_image_edits_files_winpeshl_index_by_name(tmp_path: Path) -> None:
    require_tool("wimlib-imagex")
    (tmp_path / "dvd").mkdir()
    kits.make_install_tree(tmp_path / "dvd", "amd64", tmp_path)
    (tmp_path / "tool.txt").write_text("hello {{ who }}")
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        '[variables]\nwho = "world"\n[image]\nindex = "Microsoft Windows PE (amd64) 1"\nflags = "9"\n'
        '[[files.add]]\nsource = "tool.txt"\ndest = "tools/tool.txt"\ntemplate = true\n'
        '[[files.add]]\nsource = "tool.txt"\ndest = "readme.txt"\non = "media"\n'
        '[files]\nremove = ["Windows/System32/config"]\n'
        'rename = [{ from = "Windows/System32/setup.exe", to = "Windows/System32/setup.exe.orig" }]\n'
        '[startup]\nlaunch_app = "X:\\\\tools\\\\menu.exe"\n'
    )
    result = make(tmp_path / "dvd", tmp_path, recipe=recipe)
    wim = tmp_path / "media/sources/boot.wim"
    assert result.manifest["wim"]["edited_index"] == 1
    assert result.manifest["wim"]["boot_index"] == 1
    names = wim_files(wim, 1)
    assert "/tools/tool.txt" in names and "/Windows/System32/setup.exe.orig" in names
    assert "/Windows/System32/setup.exe" not in names and "/Windows/System32/config" not in names
    assert wim_cat(wim, "/tools/tool.txt") == b"hello world"
    assert (
        wim_cat(wim, "/Windows/System32/winpeshl.ini") == b"[LaunchApp]\r\nAppPath = X:\\tools\\menu.exe\r\n"
    )
    assert (tmp_path / "media/readme.txt").read_text() == "hello {{ who }}"
    assert "/tools/tool.txt" not in wim_files(wim, 2)  # only the chosen image is edited


def test_install_iso_source_defaults_to_setup_image(tmp_path: Path) -> None:
    require_tool("xorriso")
    iso = kits.make_install_iso(tmp_path / "win.iso", "amd64", tmp_path)
    recipe = tmp_path / "r.toml"
    recipe.write_text("")
    out = tmp_path / "out"
    out.mkdir()
    result = make(iso, out, recipe=recipe)
    assert result.manifest["wim"]["edited_index"] == 2 and result.manifest["wim"]["boot_index"] == 2
    assert result.manifest["wim"]["image_count"] == 2


def test_copype_tree_round_trip(kit_dir: Path, tmp_path: Path, run_pebuild) -> None:
    dest = tmp_path / "C_WinPE_amd64"
    proc = run_pebuild("copype", "amd64", str(dest), "--source", str(kit_dir), "--json", check=True)
    summary = json.loads(proc.stdout)
    assert summary["source_kind"] == "adk"
    assert sorted(p.name for p in dest.iterdir()) == [
        ".pebuild-tree.json",
        "fwfiles",
        "media",
        "mount",
        "tools",
    ]
    assert sorted(p.name for p in (dest / "fwfiles").iterdir()) == [
        "efisys.bin",
        "efisys_noprompt.bin",
        "etfsboot.com",
    ]
    assert (dest / "media/sources/boot.wim").read_bytes() == (
        kit_dir / "Windows Preinstallation Environment/amd64/en-us/winpe.wim"
    ).read_bytes()
    assert (dest / "media/boot/bcd").read_bytes() == b"regf-bcd"  # copype keeps the kit's stores
    # the tree is a source again
    out = tmp_path / "out"
    out.mkdir()
    result = make(dest, out)
    assert result.manifest["source"]["kind"] == "copype"
    assert "/Windows/System32/imagex.exe" in wim_files(out / "media/sources/boot.wim")
    # an untouched copype tree pebuild wrote is replaced; once the user put something in, it is refused
    run_pebuild("copype", "amd64", str(dest), "--source", str(kit_dir), check=True)
    (dest / "media/drivers").mkdir()
    (dest / "media/drivers/net.inf").write_text("[Version]\n")
    again = run_pebuild("copype", "amd64", str(dest), "--source", str(kit_dir))
    assert_one_line_error(again, 8)
    assert "media/drivers/" in again.stderr and "--force" in again.stderr
    assert (dest / "media/drivers/net.inf").is_file()
    run_pebuild("copype", "amd64", str(dest), "--source", str(kit_dir), "--force", check=True)
    assert not (dest / "media/drivers").exists()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[bcd]\ntimeout = -5\n", 2, "below the minimum"),
        ('overlays = ["imagx"]\n', 1, "did you mean 'imagex'"),
        ("[media]\nprompt = 1\n", 2, "expected true or false"),
    ],
)
def test_malformed_recipe_through_cli(
    kit_dir: Path, tmp_path: Path, run_pebuild, text: str, line: int, words: str
) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text(text)
    proc = run_pebuild(
        "make", "amd64", "--recipe", str(recipe), "--source", str(kit_dir), "-o", str(tmp_path / "x.iso")
    )
    assert_one_line_error(proc, 3)
    assert f"{recipe}:{line}: " in proc.stderr and words in proc.stderr
    assert not (tmp_path / "x.iso").exists()


def test_cli_json_summary_and_missing_source_part(tmp_path: Path, run_pebuild) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path, omit=("etfsboot.com",))
    recipe = tmp_path / "r.toml"
    recipe.write_text("")
    proc = run_pebuild(
        "make", "amd64", "--recipe", str(recipe), "--source", str(kit), "-o", str(tmp_path / "x.iso")
    )
    assert_one_line_error(proc, 4)
    assert "has no etfsboot.com for amd64" in proc.stderr and "Oscdimg/etfsboot.com" in proc.stderr
    kit2 = kits.make_adk(tmp_path / "kit2", "amd64", tmp_path / "w2")
    proc = run_pebuild(
        "make",
        "amd64",
        "--recipe",
        str(recipe),
        "--source",
        str(kit2),
        "-o",
        str(tmp_path / "y.iso"),
        "--json",
        check=True,
    )
    summary = json.loads(proc.stdout)
    assert summary["iso_sha256"] == sha256_file(tmp_path / "y.iso")
    assert summary["boot_wim"]["boot_index"] == 1


def test_pxe_and_usb_outputs_from_the_same_build(kit_dir: Path, tmp_path: Path) -> None:
    require_tool("sfdisk")
    require_tool("mdir")
    result = make(kit_dir, tmp_path, pxe_dir=tmp_path / "pxe", usb_output=tmp_path / "usb.img")
    media_wim = (tmp_path / "media/sources/boot.wim").read_bytes()
    assert (tmp_path / "pxe/Boot/x64/Images/boot.wim").read_bytes() == media_wim
    assert (tmp_path / "pxe/Boot/x64/pxeboot.n12").read_bytes() == kits.bios("pxeboot.n12")
    assert result.manifest["outputs"]["pxe"]
    assert result.manifest["outputs"]["usb"]["sha256"] == sha256_file(tmp_path / "usb.img")
    table = json.loads(run("sfdisk", "-J", str(tmp_path / "usb.img")))
    parts = table["partitiontable"]["partitions"]
    assert len(parts) == 1
    offset = parts[0]["start"] * 512
    listing = run("mdir", "-i", f"{tmp_path / 'usb.img'}@@{offset}", "-b", "::/sources")
    assert "boot.wim" in listing.lower()


@pytest.mark.parametrize(
    ("omit", "name", "where"),
    [
        (("bootmgr",), "bootmgr", "Media/bootmgr"),
        (("EFI/Boot/bootx64.efi", "bootmgfw.efi"), "bootmgfw.efi", "Media/efi/boot/bootx64.efi"),
        (("etfsboot.com",), "etfsboot.com", "Oscdimg/etfsboot.com"),
        (("efisys.bin",), "efisys.bin", "Oscdimg/efisys.bin"),
        (("Boot/bootfix.bin", "bootfix.bin"), "bootfix.bin", "Media/boot/bootfix.bin"),
    ],
    ids=["bootmgr", "bootmgfw", "etfsboot", "efisys", "bootfix"],
)
def test_source_missing_a_required_part(tmp_path: Path, omit: tuple[str, ...], name: str, where: str) -> None:
    from pebuild.errors import SourceError

    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path, omit=omit)
    recipe = tmp_path / "r.toml"
    recipe.write_text("")
    with pytest.raises(SourceError) as info:
        make(kit, tmp_path, recipe=recipe)
    msg = str(info.value)
    assert f"has no {name} for amd64: looked for " in msg
    assert where in msg and "winpe.wim:Windows/Boot/" in msg  # the tree and the image were both tried
    assert not (tmp_path / "out.iso").exists() and not list(tmp_path.glob(".pebuild-build-*"))


def test_keep_on_failure_names_the_kept_directory(tmp_path: Path) -> None:
    kit = kits.make_adk(tmp_path / "kit", "amd64", tmp_path, tool_arch="x86")
    with pytest.raises(RecipeError) as info:
        make(kit, tmp_path, keep=True)
    kept = list(tmp_path.glob(".pebuild-build-*"))
    assert len(kept) == 1 and f"(build directory kept: {kept[0]})" in str(info.value)


def test_output_errors_are_one_line(kit_dir: Path, tmp_path: Path, run_pebuild) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("")
    proc = run_pebuild(
        "make", "amd64", "--recipe", str(recipe), "--source", str(kit_dir), "-o", str(tmp_path / "no/x.iso")
    )
    assert_one_line_error(proc, 8)
    proc = run_pebuild("make", "amd64", "--recipe", str(recipe), "--source", str(kit_dir))
    assert_one_line_error(proc, 2)
    assert "nothing to build" in proc.stderr
    proc = run_pebuild("make", "amd64", "--recipe", str(recipe), "-o", str(tmp_path / "x.iso"))
    assert_one_line_error(proc, 2)
    assert "no source" in proc.stderr


def test_smoke_recipe_sets_ems_and_the_serial_token(kit_dir: Path, tmp_path: Path) -> None:
    make(kit_dir, tmp_path, recipe=REPO / "recipes" / "smoke.toml")
    media = tmp_path / "media"
    require_tool("hivexregedit")
    for store in ("boot/bcd", "efi/microsoft/boot/bcd"):
        out = run("hivexregedit", "--export", str(media / store), "\\")
        # ems (osloader 0x260000B0) and bootems (0x16000020) on, EMS port 1 at 115200 baud
        assert re.search(r"\\Elements\\260000b0\]\n\"Element\"=hex\(3\):01", out), store
        assert re.search(r"\\Elements\\16000020\]\n\"Element\"=hex\(3\):01", out), store
        assert re.search(r"\\Elements\\15000022\]\n\"Element\"=hex\(3\):01,00,00,00,00,00,00,00", out)
        assert re.search(r"\\Elements\\15000023\]\n\"Element\"=hex\(3\):00,c2,01,00,00,00,00,00", out)
    wim = media / "sources/boot.wim"
    startnet = wim_cat(wim, "/Windows/System32/startnet.cmd")
    assert (
        startnet
        == b"wpeinit\r\nmode COM1: BAUD=115200 PARITY=n DATA=8 STOP=1\r\necho PEBUILD-SMOKE ok amd64 > COM1\r\n"
    )
    # winpeshl.ini keeps running startnet.cmd (LaunchApps cmd /k startnet.cmd)
    assert b"startnet.cmd" in wim_cat(wim, "/Windows/System32/winpeshl.ini")
    assert not (media / "boot/bootfix.bin").exists()  # prompt = false
