"""`pebuild reg` and `pebuild pe-settings` through the real CLI, read back with wimlib-imagex + hivex."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool

FBWF = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\FBWF"


def extract(wim: Path, image_path: str, dest: Path, index: int = 1) -> Path:
    tool = require_tool("wimlib-imagex")
    subprocess.run(
        [tool, "extract", str(wim), str(index), "/" + image_path, f"--dest-dir={dest}", "--no-acls"],
        check=True,
        capture_output=True,
    )
    return dest / Path(image_path).name


def test_set_in_wim_changes_only_that_value(run_pebuild, image_wim: Path, tmp_path: Path, kit) -> None:
    before = kit.export_blocks(
        kit.hivex_export(extract(image_wim, "Windows/System32/config/SYSTEM", tmp_path / "a"))
    )
    proc = run_pebuild(
        "reg",
        "set",
        f"{image_wim}:1",
        FBWF,
        "WinPECacheThreshold",
        "--type",
        "dword",
        "--value",
        "0x200",
        check=True,
    )
    assert "config/SYSTEM" in proc.stdout
    after = kit.export_blocks(
        kit.hivex_export(extract(image_wim, "Windows/System32/config/SYSTEM", tmp_path / "b"))
    )
    key = "[\\ControlSet001\\Services\\FBWF]"
    assert '"WinPECacheThreshold"=dword:00000200' in after[key]
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    subprocess.run([require_tool("wimlib-imagex"), "verify", str(image_wim)], check=True, capture_output=True)
    # the other hives in the image are untouched byte for byte
    sw_before = kit.make_software_hive()
    assert extract(image_wim, "Windows/System32/config/SOFTWARE", tmp_path / "c").read_bytes() == sw_before


def test_pe_settings_round_trip_in_wim(run_pebuild, image_wim: Path, tmp_path: Path) -> None:
    shown = json.loads(run_pebuild("pe-settings", "show", str(image_wim), "--json", check=True).stdout)
    assert shown["scratch_space"] is None and shown["target_path"] is None
    run_pebuild(
        "pe-settings", "set", f"{image_wim}:1", "--scratch-space", "128", "--target-path", "X:\\", check=True
    )
    shown = json.loads(run_pebuild("pe-settings", "show", str(image_wim), "--json", check=True).stdout)
    assert shown["scratch_space"] == 128 and shown["target_path"] == "X:\\"
    from regipy.registry import RegistryHive

    system = RegistryHive(str(extract(image_wim, "Windows/System32/config/SYSTEM", tmp_path / "s")))
    assert system.get_key("\\ControlSet001\\Services\\FBWF").get_value("WinPECacheThreshold") == 128
    software = RegistryHive(str(extract(image_wim, "Windows/System32/config/SOFTWARE", tmp_path / "w")))
    assert software.get_key("\\Microsoft\\Windows NT\\CurrentVersion\\WinPE").get_value("InstRoot") == "X:\\"
    text = run_pebuild("pe-settings", "show", str(image_wim), check=True).stdout
    assert "128 MB" in text and "X:\\" in text


def test_import_and_export_in_directory(run_pebuild, image_tree: Path, tmp_path: Path, kit) -> None:
    reg = Path(__file__).parent / "data" / "reg" / "valid" / "regedit4_ansi.reg"
    run_pebuild("reg", "import", str(image_tree), str(reg), check=True)
    system = image_tree / "Windows/System32/config/SYSTEM"
    assert '"WinPECacheThreshold"=dword:00000200' in kit.hivex_export(
        system, "\\ControlSet001\\Services\\FBWF"
    )
    out = tmp_path / "legacy.reg"
    run_pebuild(
        "reg", "export", str(image_tree), "HKLM\\SOFTWARE\\Pebuild\\Legacy", "-o", str(out), check=True
    )
    assert out.read_bytes()[:2] == b"\xff\xfe"
    # hivexregedit merges our export into a fresh SOFTWARE hive: same values as the hive we exported from
    fresh = tmp_path / "SOFTWARE"
    fresh.write_bytes(kit.make_software_hive())
    text = subprocess.run(
        ["iconv", "-f", "UTF-16", "-t", "UTF-8", str(out)], check=True, capture_output=True
    ).stdout
    merged = tmp_path / "merge.reg"
    merged.write_bytes(text.replace("é".encode(), b"e"))
    subprocess.run(
        [
            require_tool("hivexregedit"),
            "--merge",
            "--prefix",
            "HKEY_LOCAL_MACHINE\\SOFTWARE",
            str(fresh),
            str(merged),
        ],
        check=True,
        capture_output=True,
    )
    exported = kit.hivex_export(fresh, "\\Pebuild\\Legacy", "HKEY_LOCAL_MACHINE\\SOFTWARE")
    assert (
        '"Expand"=hex(2):25,00,53,00,79,00,73,00,74,00,65,00,6d,00,52,00,6f,00,6f,00,74,00,25,00,00,00'
        in exported
    )


def test_delete_in_hive_file(run_pebuild, tmp_path: Path, kit) -> None:
    hive = tmp_path / "SOFTWARE"
    hive.write_bytes(kit.make_software_hive())
    run_pebuild("reg", "delete", str(hive), "HKLM\\Pebuild\\Doomed", check=True)  # HKLM\X = <root>\X
    run_pebuild("reg", "delete", str(hive), "Pebuild\\Types", "Removed", check=True)
    text = kit.hivex_export(hive, "\\", "HKEY_LOCAL_MACHINE\\SOFTWARE")
    assert "Doomed" not in text and "Removed" not in text and "CurrentVersion\\WinPE]" in text


def test_source_wim_untouched_on_error(run_pebuild, image_wim: Path) -> None:
    before = image_wim.read_bytes()
    proc = run_pebuild("reg", "set", str(image_wim), "HKLM\\HARDWARE\\X", "a", "--value", "1")
    assert_one_line_error(proc, 2)
    proc = run_pebuild(
        "reg", "import", str(image_wim), str(Path(__file__).parent / "data/reg/malformed/bad_hex_byte.reg")
    )
    assert_one_line_error(proc, 5)
    assert "bad_hex_byte.reg:4:" in proc.stderr
    assert image_wim.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["pe-settings", "set", "{wim}", "--scratch-space", "100"], 2, "32, 64, 128, 256, 512"),
        (["pe-settings", "set", "{wim}", "--target-path", "X:\\a b"], 2, "spaces"),
        (["pe-settings", "set", "{wim}", "--target-path", "X:"], 2, "3 to 32"),
        (["pe-settings", "set", "{wim}"], 2, "--scratch-space and/or --target-path"),
        (["reg", "set", "{wim}:9", "HKLM\\SOFTWARE\\X", "a", "--value", "1"], 2, "out of range"),
        (
            ["reg", "set", "{wim}", "HKLM\\SOFTWARE\\X", "a", "--type", "dword", "--value", "x"],
            2,
            "not an integer",
        ),
        (
            ["reg", "set", "{wim}", "HKLM\\SOFTWARE\\X", "a", "--type", "binary", "--value", "zz"],
            2,
            "hex bytes",
        ),
        (["reg", "delete", "{wim}", "HKLM\\SOFTWARE\\Absent"], 2, "not found"),
        (["reg", "export", "{wim}", "HKLM\\SOFTWARE\\Absent", "-o", "-"], 2, "not found"),
        (
            ["reg", "set", "/nonexistent/x.wim", "HKLM\\SOFTWARE\\X", "a", "--value", "1"],
            2,
            "target not found",
        ),
        (["reg", "set", "{reg}", "HKLM\\SOFTWARE\\X", "a", "--value", "1"], 5, "not a WIM, a registry hive"),
    ],
)
def test_bad_input_one_line_errors(
    run_pebuild, image_wim: Path, args: list[str], code: int, fragment: str
) -> None:
    reg = str(Path(__file__).parent / "data/reg/valid/deletions_and_types.reg")
    proc = run_pebuild(*[a.format(wim=image_wim, reg=reg) for a in args])
    assert_one_line_error(proc, code)
    assert fragment in proc.stderr


def test_mount_edit_commit(run_pebuild, image_wim: Path, tmp_path: Path) -> None:
    """imagex /mountrw + reg load + /commit, without root: pebuild mount, reg set, pebuild commit."""
    mnt = tmp_path / "mnt"
    run_pebuild("mount", str(image_wim), str(mnt), "--index", "1", check=True)
    run_pebuild("pe-settings", "set", str(mnt), "--scratch-space", "64", check=True)
    run_pebuild("commit", str(mnt), check=True)
    from regipy.registry import RegistryHive

    hive = RegistryHive(str(extract(image_wim, "Windows/System32/config/SYSTEM", tmp_path / "s")))
    assert hive.get_key("\\ControlSet001\\Services\\FBWF").get_value("WinPECacheThreshold") == 64


MALFORMED = sorted((Path(__file__).parent / "data" / "reg" / "malformed").glob("*.reg"))


@pytest.mark.parametrize("reg", MALFORMED, ids=[p.name for p in MALFORMED])
def test_malformed_reg_via_cli(run_pebuild, tmp_path: Path, kit, reg: Path) -> None:
    hive = tmp_path / "SOFTWARE"
    hive.write_bytes(kit.make_software_hive())
    proc = run_pebuild("reg", "import", str(hive), str(reg))
    assert_one_line_error(proc, 5)
    assert f"{reg}:" in proc.stderr
    assert hive.read_bytes() == kit.make_software_hive()


def test_hive_names_in_any_case(run_pebuild, tmp_path: Path, kit) -> None:
    """Windows paths ignore case: a tree with windows/system32/config/system is edited in place."""
    wimlib = require_tool("wimlib-imagex")
    tree = tmp_path / "tree"
    (tree / "windows/system32/config").mkdir(parents=True)
    (tree / "windows/system32/config/system").write_bytes(kit.make_system_hive())
    (tree / "windows/system32/config/Software").write_bytes(kit.make_software_hive())
    run_pebuild("pe-settings", "set", str(tree), "--scratch-space", "32", check=True)
    assert "dword:00000020" in kit.hivex_export(
        tree / "windows/system32/config/system", "\\ControlSet001\\Services\\FBWF"
    )
    wim = tmp_path / "lower.wim"
    subprocess.run([wimlib, "capture", str(tree), str(wim), "PE"], check=True, capture_output=True)
    run_pebuild("pe-settings", "set", str(wim), "--scratch-space", "64", check=True)
    listing = subprocess.run(
        [wimlib, "dir", str(wim), "1"], check=True, capture_output=True, text=True
    ).stdout
    assert "/windows/system32/config/system" in listing.splitlines()  # replaced under its own name
    assert "Windows" not in listing  # no second, differently-cased tree was added
    shown = json.loads(run_pebuild("pe-settings", "show", str(wim), "--json", check=True).stdout)
    assert shown["scratch_space"] == 64


def test_reproducible_wim_edit(run_pebuild, image_wim: Path, tmp_path: Path) -> None:
    """Same input WIM + same SOURCE_DATE_EPOCH -> the same image metadata and hive bytes."""
    import shutil

    copies = [tmp_path / "a.wim", tmp_path / "b.wim"]
    for wim in copies:
        shutil.copy(image_wim, wim)
        run_pebuild(
            "pe-settings",
            "set",
            str(wim),
            "--scratch-space",
            "256",
            env={"SOURCE_DATE_EPOCH": "1700000000"},
            check=True,
        )
    tool = require_tool("wimlib-imagex")
    infos = [
        subprocess.run([tool, "info", str(w), "1"], check=True, capture_output=True, text=True).stdout
        for w in copies
    ]
    assert infos[0] == infos[1]
    hives = [extract(w, "Windows/System32/config/SYSTEM", tmp_path / w.stem).read_bytes() for w in copies]
    assert hives[0] == hives[1]


def test_query_agrees_with_regipy(run_pebuild, image_wim: Path, tmp_path: Path) -> None:
    from regipy.registry import RegistryHive

    out = json.loads(
        run_pebuild("reg", "query", str(image_wim), "HKLM\\SYSTEM\\Select", "--json", check=True).stdout
    )
    hive = RegistryHive(str(extract(image_wim, "Windows/System32/config/SYSTEM", tmp_path / "s")))
    ref = {v.name: v.value for v in hive.get_key("\\Select").iter_values()}
    assert {v["name"]: v["data"] for v in out["values"]} == ref
    text = run_pebuild(
        "reg", "query", str(image_wim), "HKLM\\SYSTEM\\CurrentControlSet\\Services", check=True
    ).stdout
    assert "HKLM\\SYSTEM\\CurrentControlSet\\Services\\FBWF" in text.splitlines()
    one = json.loads(
        run_pebuild(
            "reg", "query", str(image_wim), "HKLM\\SYSTEM\\Setup", "CmdLine", "--json", check=True
        ).stdout
    )
    assert one["values"] == [{"name": "CmdLine", "type": "REG_SZ", "data": "winpeshl.exe"}]
    assert_one_line_error(run_pebuild("reg", "query", str(image_wim), "HKLM\\SYSTEM\\Setup", "Nope"), 2)
