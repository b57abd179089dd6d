"""Registry edits on real hives, checked with hivexregedit and regipy (independent readers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.errors import FormatError, SourceError, UsageError
from pebuild.servicing.regfile import REG_DWORD, REG_SZ, dword_bytes, parse_reg, read_reg, sz_bytes
from pebuild.servicing.registry import RegistryEditor, resolve_key

DATA = Path(__file__).parent / "data" / "reg"
SW = "HKEY_LOCAL_MACHINE\\SOFTWARE"


def single(path: Path, loaded_at: str | None = None) -> RegistryEditor:
    return RegistryEditor(lambda _p: path.read_bytes(), single_hive=True, loaded_at=loaded_at)


def save(editor: RegistryEditor, path: Path) -> None:
    (data,) = editor.serialized(timestamp=1_700_000_100).values()
    path.write_bytes(data)


@pytest.mark.parametrize("current", [1, 2])
def test_current_control_set_follows_select_current(tmp_path: Path, current: int, kit) -> None:
    hive = tmp_path / "SYSTEM"
    hive.write_bytes(kit.make_system_hive(current=current))
    before = kit.export_blocks(kit.hivex_export(hive))
    editor = single(hive)  # a hive file: HKLM\X is X under its root
    editor.set_value(
        "HKLM\\CurrentControlSet\\Services\\FBWF", "WinPECacheThreshold", REG_DWORD, dword_bytes(512)
    )
    out = tmp_path / "SYSTEM.new"
    save(editor, out)
    after = kit.export_blocks(kit.hivex_export(out))
    edited = f"[\\ControlSet{current:03d}\\Services\\FBWF]"
    assert '"WinPECacheThreshold"=dword:00000200' in after[edited]
    # everything else is unchanged in meaning (hivex export of every other key identical)
    assert {k: v for k, v in after.items() if k != edited} == {k: v for k, v in before.items() if k != edited}
    assert sorted(after[edited]) == sorted([*before[edited], '"WinPECacheThreshold"=dword:00000200'])
    from regipy.registry import RegistryHive

    value = (
        RegistryHive(str(out))
        .get_key(f"\\ControlSet{current:03d}\\Services\\FBWF")
        .get_value("WinPECacheThreshold")
    )
    assert value == 512


def test_reg_merge_matches_hivexregedit_merge(tmp_path: Path, kit) -> None:
    """Our .reg import and hivexregedit --merge of the same file give the same hive content."""
    tool = require_tool("hivexregedit")
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.write_bytes(kit.make_software_hive())
    theirs.write_bytes(kit.make_software_hive())
    utf8 = tmp_path / "merge.reg"
    # hivexregedit reads 8-bit text: give it the UTF-16 fixture converted by iconv (independent of pebuild)
    text = subprocess.run(
        ["iconv", "-f", "UTF-16", "-t", "UTF-8", str(DATA / "valid" / "v5_regedit_export.reg")],
        check=True,
        capture_output=True,
    ).stdout.decode()
    # hivexregedit takes input bytes as Latin-1 (its limitation), so keep the merged strings ASCII
    text = text.replace("Grüße €", "Gruesse EUR")
    extra = (
        "\r\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Pebuild\\Doomed]\r\n\r\n"
        '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Pebuild\\Types]\r\n"Removed"=-\r\n"N"=hex(100000):01,02\r\n'
    )
    utf8.write_text(text + extra, encoding="utf-8")
    subprocess.run([tool, "--merge", "--prefix", SW, str(theirs), str(utf8)], check=True, capture_output=True)
    editor = single(ours, loaded_at=SW)  # what hivexregedit's --prefix does
    editor.apply_reg(parse_reg(utf8.read_bytes()))
    save(editor, ours)

    def content(path: Path) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in kit.export_blocks(kit.hivex_export(path, "\\", SW)).items()}

    mine, ref = content(ours), content(theirs)
    assert mine == ref
    assert f"[{SW}\\Pebuild\\Doomed]" not in mine
    assert f"[{SW}\\Pebuild\\Export\\Sub Key]" in mine


def test_editor_over_image_hives_and_changed_set(tmp_path: Path, kit) -> None:
    files = {
        "Windows/System32/config/SYSTEM": kit.make_system_hive(),
        "Windows/System32/config/SOFTWARE": kit.make_software_hive(),
    }
    loads: list[str] = []

    def loader(p: str) -> bytes | None:
        loads.append(p)
        return files.get(p)

    editor = RegistryEditor(loader)
    editor.set_value("HKCR\\.log", "", REG_SZ, sz_bytes("txtfile"))
    assert editor.get_value("HKLM\\SOFTWARE\\Classes\\.log", "").data == sz_bytes("txtfile")
    # setting a value to what it already holds is no change
    editor.set_value("HKLM\\SYSTEM\\Setup", "CmdLine", REG_SZ, sz_bytes("winpeshl.exe"))
    assert editor.changed == ["Windows/System32/config/SOFTWARE"]
    assert loads.count("Windows/System32/config/SOFTWARE") == 1
    (software,) = editor.serialized(timestamp=0).values()
    seen = kit.hivex_values_of(software, tmp_path / "SOFTWARE")  # HKCR is SOFTWARE\Classes for hivex too
    assert seen["Classes\\.log"] == {"": (REG_SZ, sz_bytes("txtfile"))}
    with pytest.raises(SourceError, match="no registry hive Windows/System32/config/DEFAULT"):
        editor.set_value("HKCU\\Console", "X", REG_DWORD, dword_bytes(1))


def test_delete_key_and_value(tmp_path: Path, kit) -> None:
    hive = tmp_path / "SOFTWARE"
    hive.write_bytes(kit.make_software_hive())
    editor = single(hive, loaded_at=SW)
    assert editor.delete_key(f"{SW}\\Pebuild\\Doomed") is True
    assert editor.delete_key(f"{SW}\\Pebuild\\Doomed") is False  # absent: not an error, as regedit
    assert editor.delete_value(f"{SW}\\Pebuild\\Types", "Removed") is True
    assert editor.delete_value(f"{SW}\\Pebuild\\Types", "Removed") is False
    with pytest.raises(UsageError, match="refusing to delete the root"):
        editor.delete_key(SW)
    save(editor, hive)
    text = kit.hivex_export(hive, "\\", SW)
    assert (
        "Doomed" not in text
        and '"Removed"' not in text
        and "[HKEY_LOCAL_MACHINE\\SOFTWARE\\Pebuild\\Types]" in text
    )


def test_export_agrees_with_hivexregedit(tmp_path: Path, kit) -> None:
    hive = tmp_path / "SOFTWARE"
    hive.write_bytes(kit.make_software_hive())
    ours = single(hive, loaded_at=SW).export(f"{SW}\\Microsoft")
    theirs = parse_reg(kit.hivex_export(hive, "\\Microsoft", SW))
    assert [(k.path, sorted((v.name, v.type, v.data) for v in k.values)) for k in ours.keys] == [
        (k.path, sorted((v.name, v.type, v.data) for v in k.values)) for k in theirs.keys
    ]


def test_reg_corpus_applies_to_hives(tmp_path: Path, kit) -> None:
    files = {
        "Windows/System32/config/SYSTEM": kit.make_system_hive(),
        "Windows/System32/config/SOFTWARE": kit.make_software_hive(),
    }
    files["Windows/System32/config/DEFAULT"] = kit.make_default_hive()
    editor = RegistryEditor(files.get)
    for name in ("regedit4_ansi.reg", "deletions_and_types.reg", "v5_regedit_export.reg"):
        editor.apply_reg(read_reg(DATA / "valid" / name))
    assert editor.get_value(
        "HKLM\\SYSTEM\\ControlSet001\\Services\\FBWF", "WinPECacheThreshold"
    ).data == dword_bytes(512)
    assert editor.get_value("HKCU\\Console", "QuickEdit").data == dword_bytes(1)
    assert editor.open_key(f"{SW}\\Pebuild\\Doomed") is None
    assert set(editor.changed) == set(files)
    written = editor.serialized(timestamp=0)
    seen = {p.rsplit("/", 1)[-1]: kit.hivex_values_of(written[p], tmp_path / p) for p in written}
    assert seen["SYSTEM"]["ControlSet001\\Services\\FBWF"]["WinPECacheThreshold"] == (
        REG_DWORD,
        dword_bytes(512),
    )
    assert seen["DEFAULT"]["Console"]["QuickEdit"] == (REG_DWORD, dword_bytes(1))
    assert not any(k.startswith("Pebuild\\Doomed") for k in seen["SOFTWARE"])


@pytest.mark.parametrize(
    ("key", "hive", "inner"),
    [
        ("HKLM\\SYSTEM\\Setup", "Windows/System32/config/SYSTEM", ["Setup"]),
        ("HKEY_LOCAL_MACHINE\\software\\X", "Windows/System32/config/SOFTWARE", ["X"]),
        ("HKCU\\Console", "Windows/System32/config/DEFAULT", ["Console"]),
        ("HKU\\.DEFAULT\\Console", "Windows/System32/config/DEFAULT", ["Console"]),
        ("HKU\\S-1-5-18\\Console", "Windows/System32/config/DEFAULT", ["Console"]),
        ("HKU\\DefaultUser\\Software", "Users/Default/NTUSER.DAT", ["Software"]),
        ("HKCR\\.txt", "Windows/System32/config/SOFTWARE", ["Classes", ".txt"]),
    ],
)
def test_resolve_key(key: str, hive: str, inner: list[str]) -> None:
    assert resolve_key(key) == (hive, inner)


@pytest.mark.parametrize(
    "key", ["HKXX\\A", "HKLM\\HARDWARE\\X", "HKLM", "HKU\\S-1-5-21-1\\X", "HKLM\\SYSTEM\\\\X", ""]
)
def test_resolve_key_refuses(key: str) -> None:
    with pytest.raises(UsageError):
        resolve_key(key)


def test_ccs_without_select_is_format_error(tmp_path: Path, kit) -> None:
    hive = tmp_path / "SOFTWARE"
    hive.write_bytes(kit.make_software_hive())
    with pytest.raises(FormatError, match="no Select\\\\Current"):
        single(hive).set_value("HKLM\\CurrentControlSet\\X", "a", REG_DWORD, dword_bytes(1))


def test_default_user_hive_of_an_install_image(kit, tmp_path: Path) -> None:
    from pebuild.hive import Hive, serialize_hive

    ntuser = Hive.new("NTUSER")
    ntuser.root.create("Control Panel\\Desktop")
    files = {"Users/Default/NTUSER.DAT": serialize_hive(ntuser, "compact", timestamp=0)}
    editor = RegistryEditor(files.get)
    editor.set_value("HKU\\DefaultUser\\Control Panel\\Desktop", "ScreenSaveActive", REG_SZ, sz_bytes("0"))
    assert editor.changed == ["Users/Default/NTUSER.DAT"]
    from regipy.registry import RegistryHive

    out = tmp_path / "NTUSER.DAT"
    out.write_bytes(editor.serialized(timestamp=0)["Users/Default/NTUSER.DAT"])
    hive = RegistryHive(str(out))
    assert hive.get_key("\\Control Panel\\Desktop").get_value("ScreenSaveActive") == "0"
