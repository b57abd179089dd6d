"""Build checks (pebuild.make.checks): recipes that would build media that cannot work fail with
file:line; unusual ones warn (errors with --strict). Every check of docs/recipes.md is here.

Builds use the sample source; results are read back with wimlib-imagex, mtools and pebuild capture.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from _helpers import REPO_ROOT, assert_one_line_error, require_tool
from pebuild.errors import RecipeError
from pebuild.make import BuildRequest, build

INF = REPO_ROOT / "tests" / "servicing" / "data" / "inf"
CHECKS_DOC = REPO_ROOT / "docs" / "recipes.md"


def recipe(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def make(tmp_path: Path, text: str, **kw: object) -> object:
    """Build the recipe `text` (written to tmp_path/r.toml) from the sample into tmp_path/media."""
    kw.setdefault("source", "sample")
    req = BuildRequest("amd64", recipe(tmp_path, text), media_dir=tmp_path / "media", **kw)
    return build(req)


def refused(tmp_path: Path, text: str, fragment: str, line: int | None, **kw: object) -> RecipeError:
    with pytest.raises(RecipeError) as info:
        make(tmp_path, text, **kw)
    assert fragment in info.value.message, info.value.message
    assert info.value.line == line, str(info.value)
    assert not (tmp_path / "media").exists()
    return info.value


def nic(dest: Path) -> Path:
    shutil.copytree(INF / "good_net_multiarch", dest)
    return dest


def test_launch_apps_without_startnet_never_loads_the_drivers(tmp_path: Path) -> None:
    nic(tmp_path / "nic")
    text = '[startup]\nlaunch_apps = ["X:\\\\tools\\\\menu.exe"]\n[drivers]\npaths = ["nic"]\n'
    error = refused(tmp_path, text, "startnet.cmd never runs, so the [drivers] drvload lines", 2)
    assert "cmd.exe" in error.message  # says how to fix it


def test_winpeshl_and_startnet_lines_that_can_never_run(tmp_path: Path) -> None:
    text = '[startup]\nlaunch_app = "X:\\\\tools\\\\menu.exe"\nstartnet = ["net use Z: \\\\\\\\srv\\\\x"]\n'
    refused(tmp_path, text, "startup.launch_app writes winpeshl.ini, which replaces the shell", 2)


def test_launch_apps_that_run_startnet_are_fine(tmp_path: Path) -> None:
    nic(tmp_path / "nic")
    text = (
        '[startup]\nlaunch_apps = [{ app = "%SYSTEMROOT%\\\\System32\\\\cmd.exe", '
        'args = "/c %SYSTEMROOT%\\\\System32\\\\startnet.cmd" }, "X:\\\\tools\\\\menu.exe"]\n'
        '[drivers]\npaths = ["nic"]\n'
    )
    assert make(tmp_path, text).warnings == []


def test_an_image_winpeshl_that_skips_startnet_warns_and_strict_refuses(tmp_path: Path) -> None:
    wim = _sample_wim_with(tmp_path, {"Windows/System32/winpeshl.ini": b"[LaunchApps]\r\nX:\\menu.exe\r\n"})
    text = '[startup]\nstartnet = ["echo hi"]\n'
    result = make(tmp_path, text, source=str(wim))
    (warning,) = result.warnings
    assert warning.startswith(f"{tmp_path / 'r.toml'}:2: the image has its own Windows/System32/winpeshl.ini")
    shutil.rmtree(tmp_path / "media")
    refused(tmp_path, text, "(--strict makes warnings errors)", 2, strict=True, source=str(wim))
    removed = text + '[files]\nremove = ["Windows/System32/winpeshl.ini"]\n'
    assert make(tmp_path / "b", removed, source=str(wim)).warnings == []


def test_wipe_disk_without_partitions_installs_nowhere(tmp_path: Path) -> None:
    text = '[unattend.wds_client]\nimage_name = "Win"\nwipe_disk = true\n'
    refused(tmp_path, text, "wipe_disk = true with no partitions: Setup wipes disk 0, creates nothing", 3)


def test_wds_client_on_an_image_without_setup_warns(tmp_path: Path) -> None:
    text = '[unattend.wds_client]\nimage_name = "Win"\n'
    (warning,) = make(tmp_path, text).warnings
    assert "the image has no sources\\setup.exe" in warning and warning.startswith(
        f"{tmp_path / 'r.toml'}:1:"
    )
    (tmp_path / "setup.exe").write_bytes(_pe("setup.exe"))
    shutil.rmtree(tmp_path / "media")
    added = text + '[[files.add]]\nsource = "setup.exe"\ndest = "sources/setup.exe"\n'
    assert make(tmp_path, added).warnings == []


def test_wimscript_without_its_overlay_says_to_add_it(tmp_path: Path) -> None:
    text = '[wimscript]\nexclusion_list = ["\\\\pagefile.sys"]\n'
    refused(
        tmp_path,
        text,
        '[wimscript] is set but no overlay writes wimscript.ini: add "wimscript" to overlays',
        2,
    )


def test_drive_letters_in_wimscript_follow_captures_rule(tmp_path: Path, run_pebuild) -> None:
    """One rule: the recipe is refused with the very message `pebuild capture --config` gives."""
    text = 'overlays = ["imagex", "wimscript"]\n[wimscript]\nexclusion_list = ["\\\\pagefile.sys", "c:\\\\tools"]\n'
    error = refused(tmp_path, text, "wimscript.exclusion_list: drive letters are not allowed in globs", 3)
    (tmp_path / "w.ini").write_text("[ExclusionList]\nc:\\tools\n")
    (tmp_path / "tree").mkdir()
    proc = run_pebuild(
        "capture",
        str(tmp_path / "tree"),
        str(tmp_path / "c.wim"),
        "--name",
        "PE",
        "--config",
        str(tmp_path / "w.ini"),
    )
    assert_one_line_error(proc, RecipeError.exit_code)
    rule = "drive letters are not allowed in globs: 'c:\\tools' (globs are relative to the captured directory"
    assert rule in proc.stderr and rule in error.message


def test_the_wimscript_a_build_writes_is_what_capture_reads(tmp_path: Path, run_pebuild) -> None:
    """Build capture.toml, take wimscript.ini out of boot.wim, capture a tree with it: the exclusions hold."""
    wimlib = require_tool("wimlib-imagex")
    shutil.copy(REPO_ROOT / "recipes" / "capture.toml", tmp_path / "capture.toml")
    build(BuildRequest("amd64", tmp_path / "capture.toml", source="sample", media_dir=tmp_path / "media"))
    out = tmp_path / "x"
    subprocess.run(
        [
            wimlib,
            "extract",
            str(tmp_path / "media/sources/boot.wim"),
            "1",
            "/Windows/System32/wimscript.ini",
            f"--dest-dir={out}",
            "--no-acls",
        ],
        check=True,
        capture_output=True,
    )
    tree = tmp_path / "disk"
    (tree / "Windows" / "Temp").mkdir(parents=True)
    (tree / "Windows" / "Temp" / "junk.tmp").write_text("x")
    (tree / "pagefile.sys").write_text("x")
    (tree / "keep.txt").write_text("x")
    run_pebuild(
        "capture",
        str(tree),
        str(tmp_path / "c.wim"),
        "--name",
        "C",
        "--config",
        str(out / "wimscript.ini"),
        check=True,
    )
    listing = subprocess.run(
        [wimlib, "dir", str(tmp_path / "c.wim"), "1"], capture_output=True, text=True
    ).stdout
    assert "/keep.txt" in listing and "pagefile.sys" not in listing and "junk.tmp" not in listing


def test_a_driver_listed_twice_is_staged_and_loaded_once(tmp_path: Path) -> None:
    wimlib = require_tool("wimlib-imagex")
    nic(tmp_path / "nic")
    shutil.copytree(tmp_path / "nic", tmp_path / "copy")
    text = '[drivers]\npaths = ["nic", "nic/rtnet.inf", "copy"]\n'
    result = make(tmp_path, text)
    assert len(result.warnings) == 2 and all("staged once, loaded once" in w for w in result.warnings)
    assert "is the same INF" in result.warnings[0] and "is the same as" in result.warnings[1]
    startnet = subprocess.run(
        [
            wimlib,
            "extract",
            str(tmp_path / "media/sources/boot.wim"),
            "1",
            "/Windows/System32/startnet.cmd",
            "--to-stdout",
        ],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert startnet.count("drvload") == 1 and startnet.count("wpeutil InitializeNetwork") == 1


def test_a_non_pe_sys_is_refused_one_line(tmp_path: Path, run_pebuild) -> None:
    shutil.copytree(INF / "bad_not_pe", tmp_path / "nic")
    path = recipe(tmp_path, '[drivers]\npaths = ["nic"]\n')
    proc = run_pebuild(
        "make", "amd64", "--recipe", str(path), "--source", "sample", "-o", str(tmp_path / "o.iso")
    )
    assert_one_line_error(proc, RecipeError.exit_code)
    assert "amd64/rtnet.sys is not a PE file" in proc.stderr and not (tmp_path / "o.iso").exists()


def test_a_drivers_arch_mismatch_for_the_build_arch(tmp_path: Path) -> None:
    shutil.copytree(INF / "good_storage_amd64", tmp_path / "stor")
    with pytest.raises(RecipeError, match=r"nvstor\.inf: driver is for amd64, not x86"):
        build(
            BuildRequest(
                "x86",
                recipe(tmp_path, '[drivers]\npaths = ["stor"]\n'),
                source="sample",
                media_dir=tmp_path / "m",
            )
        )


@pytest.mark.parametrize("kind", ["sysprep", "image"])
def test_a_30_character_computer_name(tmp_path: Path, kind: str) -> None:
    text = f'[unattend.{kind}]\ncomputer_name = "{"A" * 30}"\n'
    refused(tmp_path, text, "is 30 characters; Windows allows at most 15 in a computer name", 2)


def test_sysprep_quote_errors_carry_file_and_line(tmp_path: Path) -> None:
    text = '[variables]\nowner = "O\\"Brien"\n[unattend.sysprep]\nregistered_owner = "Ann \\"A\\" B"\n'
    refused(tmp_path, text, "unattend.sysprep.registered_owner: sysprep.inf values cannot hold quotes", 4)
    rendered = '[variables]\nowner = "O\\"Brien"\n[unattend.sysprep]\nregistered_owner = "{{ owner }}"\n'
    with pytest.raises(RecipeError) as info:
        make(tmp_path, rendered)
    assert f"{tmp_path / 'r.toml'}:3: unattend.sysprep.registered_owner" in info.value.message


def test_a_20_character_label_is_cut_to_11_on_the_usb_image_with_a_warning(tmp_path: Path) -> None:
    mlabel = require_tool("mdir").replace("mdir", "mlabel")
    text = '[media]\nlabel = "ABCDEFGHIJKLMNOPQRST"\n'
    result = make(tmp_path, text, usb_output=tmp_path / "u.img", output=tmp_path / "o.iso")
    (warning,) = result.warnings
    assert "media.label 'ABCDEFGHIJKLMNOPQRST' is 20 characters" in warning and "'ABCDEFGHIJK'" in warning
    assert warning.startswith(f"{tmp_path / 'r.toml'}:2:")
    start = int(
        subprocess.run(["sfdisk", "-d", str(tmp_path / "u.img")], capture_output=True, text=True, check=True)
        .stdout.split("start=")[1]
        .split(",")[0]
    )
    label = subprocess.run(
        [mlabel, "-s", "-i", f"{tmp_path / 'u.img'}@@{start * 512}", "::"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ABCDEFGHIJK" in label and "ABCDEFGHIJKL" not in label
    assert make(tmp_path / "iso", text, output=tmp_path / "iso.iso").warnings == []  # ISO labels hold 32


def test_every_check_has_a_line_in_docs_recipes() -> None:
    import re

    source = (REPO_ROOT / "src" / "pebuild" / "make" / "checks.py").read_text()
    ids = set(re.findall(r'Finding\(\s*"(?:error|warning)",\s*"([a-z0-9-]+)"', source))
    assert len(ids) >= 8
    doc = CHECKS_DOC.read_text()
    assert all(f"`{i}`" in doc for i in ids), sorted(i for i in ids if f"`{i}`" not in doc)


def _pe(name: str) -> bytes:
    from pebuild.sample.stubs import pe_standin

    return pe_standin(name, "amd64")


def _sample_wim_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """The sample's winpe.wim plus `files` (added with wimlib-imagex, not pebuild)."""
    wimlib = require_tool("wimlib-imagex")
    from pebuild.sample import build_sample_source

    kit = build_sample_source(tmp_path / "kit", "amd64")
    wim = tmp_path / "winpe.wim"
    shutil.copy(kit / "Windows Preinstallation Environment" / "amd64" / "en-us" / "winpe.wim", wim)
    cmds = []
    for n, (dest, data) in enumerate(files.items()):
        (tmp_path / f"add{n}").write_bytes(data)
        cmds.append(f"add '{tmp_path / f'add{n}'}' '/{dest}'")
    subprocess.run(
        [wimlib, "update", str(wim), "1"],
        input="\n".join(cmds) + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    return wim
