"""Targets whose hives Windows left dirty, and registry paths on a hive file (issue 15).

The dirty hives are real: yarp's NewDirtyHive and regipy's transactions_NTUSER.DAT with the
transaction logs their repositories ship (../shared/fixtures/hives). Placed as an image's
DEFAULT hive (HKCU) with DEFAULT.LOG1/.LOG2 beside it, inside a directory, a WIM captured by
wimlib-imagex, and a `pebuild mount` tree; hivex (hivexget/hivexregedit) reads the results.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from hive_check import hivex_values, reg_sz

from _helpers import HIVE_FIXTURES, assert_one_line_error, hive_fixture, require_tool
from pebuild.errors import UsageError
from pebuild.servicing.registry import RegistryEditor, resolve_in_single_hive

CONFIG = "Windows/System32/config"
NEW = "yarp-NewDirtyHive"  # Key3\Key3_1..3 exist only after its LOG1+LOG2 are replayed
needs_fixtures = pytest.mark.skipif(
    not HIVE_FIXTURES.is_dir(), reason=f"hive fixtures not at {HIVE_FIXTURES}"
)


@pytest.mark.parametrize(
    ("key", "parts", "rooted"),
    [
        ("HKLM\\Select", ["Select"], True),
        ("HKEY_LOCAL_MACHINE\\Select\\X", ["Select", "X"], True),
        ("hku\\Select", ["Select"], True),
        ("\\Select", ["Select"], False),
        ("Select", ["Select"], False),
        ("\\", [], False),
        ("HKLM", [], True),
        ("HKEY_USERS", [], True),
    ],
)
def test_hive_file_paths(key: str, parts: list[str], rooted: bool) -> None:
    assert resolve_in_single_hive(key) == (parts, rooted)


@pytest.mark.parametrize(
    ("key", "where"), [("HKCR\\.txt", "SOFTWARE"), ("HKEY_CURRENT_USER\\Console", "NTUSER.DAT")]
)
def test_hkcr_hkcu_on_a_hive_file_name_their_hive(key: str, where: str) -> None:
    with pytest.raises(UsageError, match=where):
        resolve_in_single_hive(key)


def test_loaded_at_places_the_file() -> None:
    assert resolve_in_single_hive("HKEY_LOCAL_MACHINE\\software\\X", "HKLM\\SOFTWARE") == (["X"], False)
    assert resolve_in_single_hive("HKLM\\SOFTWARE", "HKLM\\SOFTWARE") == ([], False)
    assert resolve_in_single_hive("Vendor", "HKLM\\SOFTWARE") == (["Vendor"], False)
    with pytest.raises(UsageError, match="not under"):
        resolve_in_single_hive("HKLM\\SYSTEM\\X", "HKLM\\SOFTWARE")


def test_hive_name_prefix_on_a_hive_file_is_refused_not_created(tmp_path: Path, kit) -> None:
    editor = RegistryEditor(lambda _p: kit.make_system_hive(), single_hive=True)
    with pytest.raises(UsageError, match=r"HKLM\\X is X under the hive's root.*--loaded-at 'HKLM\\SYSTEM'"):
        editor.set_value("HKLM\\SYSTEM\\Select", "Probe", 4, b"\7\0\0\0")
    assert editor.changed == []


def test_hklm_x_addresses_x_not_the_root(run_pebuild, tmp_path: Path, kit) -> None:
    """The case in the issue: `reg set SYSTEM 'HKLM\\Select' Probe` wrote \\Probe."""
    hivexget = require_tool("hivexget")
    hive = tmp_path / "SYSTEM"
    hive.write_bytes(kit.make_system_hive())
    run_pebuild(
        "reg", "set", str(hive), "HKLM\\Select", "Probe", "--type", "dword", "--value", "7", check=True
    )
    got = subprocess.run([hivexget, str(hive), "\\Select", "Probe"], capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout.strip() == "7"
    root = subprocess.run([hivexget, str(hive), "\\", "Probe"], capture_output=True, text=True)
    assert root.returncode != 0 or not root.stdout.strip()
    listing = json.loads(run_pebuild("reg", "query", str(hive), "\\", "--json", check=True).stdout)
    assert set(listing["subkeys"]) == {"Select", "ControlSet001", "ControlSet002", "Setup"}
    same = json.loads(run_pebuild("reg", "query", str(hive), "HKLM", "--json", check=True).stdout)
    assert same["subkeys"] == listing["subkeys"]
    text = run_pebuild("reg", "query", str(hive), "\\", check=True).stdout.splitlines()
    assert text[0] == "\\" and "\\Select" in text and not any(line.startswith("\\\\") for line in text)
    proc = run_pebuild("reg", "set", str(hive), "HKCR\\.txt", "@", "--value", "txtfile")
    assert_one_line_error(proc, 2)
    assert "SOFTWARE" in proc.stderr
    before = hive.read_bytes()
    proc = run_pebuild("reg", "query", str(hive), "HKLM\\SYSTEM\\Select")
    assert_one_line_error(proc, 2)
    assert hive.read_bytes() == before


# ------------------------------------------------------------------------ dirty hives
@needs_fixtures
def test_dirty_hive_file_without_logs(run_pebuild, tmp_path: Path) -> None:
    path = hive_fixture("regipy-SECURITY", tmp_path, logs=False)
    before = path.read_bytes()
    proc = run_pebuild("reg", "set", str(path), "HKLM\\Pebuild", "Probe", "--type", "dword", "--value", "1")
    assert_one_line_error(proc, 5)
    assert proc.stderr.startswith(f"pebuild: {path}: hive is dirty (sequence numbers 107 != 106)")
    assert "--allow-dirty" in proc.stderr and "no transaction log" in proc.stderr
    assert path.read_bytes() == before
    shown = json.loads(
        run_pebuild("reg", "query", str(path), "\\", "--allow-dirty", "--json", check=True).stdout
    )
    assert set(shown["subkeys"]) == {"Cache", "Policy", "RXACT"}
    assert run_pebuild("reg", "set", str(path), "X", "Y", "--allow-dirty").returncode == 2  # read-only flag
    assert path.read_bytes() == before


@needs_fixtures
def test_dirty_hive_file_with_logs_is_replayed_then_logs_emptied(run_pebuild, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    path = hive_fixture("regipy-transactions_NTUSER.DAT", tmp_path)
    logs = sorted(p for p in tmp_path.iterdir() if p != path)
    run_pebuild(
        "reg", "set", str(path), "HKLM\\Pebuild", "Probe", "--type", "dword", "--value", "7", check=True
    )
    data = path.read_bytes()
    assert struct.unpack_from("<I", data, 4) == struct.unpack_from("<I", data, 8) == (589,)
    assert all(p.stat().st_size == 0 for p in logs)
    tool = require_tool("hivexregedit")
    export = subprocess.run([tool, "--export", str(path), "\\"], check=True, capture_output=True).stdout
    keys = [line for line in export.splitlines() if line.startswith(b"[")]
    assert len(keys) == 3105 + 1  # the replayed keys and ours
    assert b'[\\Pebuild]\n"Probe"=dword:00000007' in export


def _tree_with_dirty_default(tmp_path: Path, kit, name: str = NEW, *, logs: bool = True) -> Path:
    tree = tmp_path / "tree"
    config = tree / CONFIG
    config.mkdir(parents=True)
    (config / "SYSTEM").write_bytes(kit.make_system_hive())
    (config / "SOFTWARE").write_bytes(kit.make_software_hive())
    src = hive_fixture(name, tmp_path / "fixture", logs=logs)
    (config / "DEFAULT").write_bytes(src.read_bytes())
    for log in sorted(p for p in src.parent.iterdir() if p != src):
        (config / ("DEFAULT" + log.name[len(name) :].upper())).write_bytes(log.read_bytes())
    return tree


def _capture(tree: Path, wim: Path) -> Path:
    tool = require_tool("wimlib-imagex")
    subprocess.run([tool, "capture", str(tree), str(wim), "PE"], check=True, capture_output=True)
    return wim


def _extract(wim: Path, paths: list[str], dest: Path) -> Path:
    tool = require_tool("wimlib-imagex")
    subprocess.run(
        [tool, "extract", str(wim), "1", *("/" + p for p in paths), f"--dest-dir={dest}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    return dest


@needs_fixtures
def test_dirty_hive_inside_a_wim(run_pebuild, tmp_path: Path, kit) -> None:
    require_tool("hivexregedit")
    wim = _capture(_tree_with_dirty_default(tmp_path, kit), tmp_path / "boot.wim")
    shown = json.loads(run_pebuild("reg", "query", f"{wim}:1", "HKCU\\Key3", "--json", check=True).stdout)
    assert set(shown["subkeys"]) == {"Key3_1", "Key3_2", "Key3_3"}  # only in the replayed hive
    run_pebuild(
        "reg", "set", f"{wim}:1", "HKCU\\Key3", "Probe", "--type", "dword", "--value", "5", check=True
    )
    out = _extract(
        wim, [f"{CONFIG}/DEFAULT", f"{CONFIG}/DEFAULT.LOG1", f"{CONFIG}/DEFAULT.LOG2"], tmp_path / "x"
    )
    default = (out / "DEFAULT").read_bytes()
    assert struct.unpack_from("<II", default, 4) == (6, 6)  # last replayed entry 5, then our write
    assert (out / "DEFAULT.LOG1").stat().st_size == 0 and (out / "DEFAULT.LOG2").stat().st_size == 0
    blocks = kit.export_blocks(kit.hivex_export(out / "DEFAULT"))
    assert '"Probe"=dword:00000005' in blocks["[\\Key3]"]
    assert "[\\Key3\\Key3_2]" in blocks and "[\\Key1]" not in blocks


@needs_fixtures
def test_dirty_hive_in_a_mount_then_commit(run_pebuild, tmp_path: Path, kit) -> None:
    require_tool("hivexregedit")
    wim = _capture(_tree_with_dirty_default(tmp_path, kit), tmp_path / "boot.wim")
    mnt = tmp_path / "mnt"
    run_pebuild("mount", str(wim), str(mnt), "--index", "1", check=True)
    run_pebuild("reg", "set", str(mnt), "HKCU\\Key3\\Key3_1", "Probe", "--value", "mounted", check=True)
    assert (mnt / CONFIG / "DEFAULT.LOG1").stat().st_size == 0
    run_pebuild("commit", str(mnt), check=True)
    out = _extract(
        wim, [f"{CONFIG}/DEFAULT", f"{CONFIG}/DEFAULT.LOG1", f"{CONFIG}/DEFAULT.LOG2"], tmp_path / "x"
    )
    assert (out / "DEFAULT.LOG2").stat().st_size == 0
    shown = json.loads(
        run_pebuild(
            "reg", "query", str(out / "DEFAULT"), "Key3\\Key3_1", "Probe", "--json", check=True
        ).stdout
    )
    assert shown["values"][0]["data"] == "mounted"
    # hivex: what Windows 10 itself recovered from these logs (yarp's RecoveredHive_Windows10), plus the edit
    want = hivex_values(hive_fixture("yarp-RecoveredHive_Windows10", tmp_path / "win10", logs=False))
    want["Key3\\Key3_1"]["Probe"] = (1, reg_sz("mounted"))
    assert hivex_values(out / "DEFAULT") == want


@needs_fixtures
def test_recipe_registry_on_a_dirty_hive(tmp_path: Path, kit) -> None:
    import tomllib

    require_tool("hivexregedit")
    from pebuild.servicing import parse_recipe_sections, plan_image_edits
    from pebuild.wim import Wim

    wim_path = _capture(_tree_with_dirty_default(tmp_path, kit), tmp_path / "boot.wim")
    text = '[[registry.set]]\nkey = "HKCU\\\\Key3"\nname = "FromRecipe"\ntype = "dword"\nvalue = 9\n'
    plan = parse_recipe_sections(tomllib.loads(text), tmp_path / "r.toml", lambda _key: None)
    with Wim.open(wim_path) as wim:
        edits = plan_image_edits(plan, wim=wim, index=1, arch="amd64", workdir=tmp_path / "w", variables={})
    assert edits.add[f"{CONFIG}/DEFAULT.LOG1"] == b"" and edits.add[f"{CONFIG}/DEFAULT.LOG2"] == b""
    from pebuild.hive import Hive

    default = edits.add[f"{CONFIG}/DEFAULT"]
    assert isinstance(default, bytes)
    hive = Hive.parse(default)
    assert hive.root.open("Key3").get_value("FromRecipe").as_python() == 9
    assert {k.name for k in hive.root.open("Key3").subkeys} == {"Key3_1", "Key3_2", "Key3_3"}
    (tmp_path / "DEFAULT").write_bytes(default)
    want = hivex_values(hive_fixture("yarp-RecoveredHive_Windows10", tmp_path / "win10", logs=False))
    want["Key3"]["FromRecipe"] = (4, (9).to_bytes(4, "little"))
    assert hivex_values(tmp_path / "DEFAULT") == want  # Windows 10's own replay plus the recipe's value


@needs_fixtures
def test_dirty_hive_without_logs_in_a_wim_names_it(run_pebuild, tmp_path: Path, kit) -> None:
    wim = _capture(
        _tree_with_dirty_default(tmp_path, kit, "regipy-SECURITY", logs=False), tmp_path / "boot.wim"
    )
    proc = run_pebuild("reg", "query", f"{wim}:1", "HKCU\\Policy")
    assert_one_line_error(proc, 5)
    assert proc.stderr.startswith(f"pebuild: {wim}:1/{CONFIG}/DEFAULT: hive is dirty")
    shown = json.loads(
        run_pebuild("reg", "query", f"{wim}:1", "HKCU", "--allow-dirty", "--json", check=True).stdout
    )
    assert "Policy" in shown["subkeys"]
