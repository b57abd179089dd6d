"""DISM /Set-ScratchSpace and /Set-TargetPath rules, and reading them back from hives."""

from __future__ import annotations

import pytest

from pebuild.errors import UsageError
from pebuild.servicing.pesettings import (
    SCRATCH_SPACE_SIZES,
    apply_pe_settings,
    check_scratch_space,
    check_target_path,
    read_pe_settings,
)
from pebuild.servicing.registry import RegistryEditor


@pytest.mark.parametrize("size", [32, 64, 128, 256, 512])
def test_scratch_sizes_dism_accepts(size: int) -> None:
    assert check_scratch_space(size) == size


@pytest.mark.parametrize("size", [0, 16, 100, 1024, -32, True, "512", 512.0])
def test_scratch_sizes_refused(size: object) -> None:
    with pytest.raises(UsageError, match="32, 64, 128, 256, 512"):
        check_scratch_space(size)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["X:\\", "C:\\", "z:\\", "X:\\WinPE", "D:\\a\\b_c-1", "Y:\\" + "a" * 29])
def test_target_paths_dism_accepts(path: str) -> None:
    assert check_target_path(path) == path


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("X:", "3 to 32"),
        ("X:\\" + "a" * 30, "3 to 32"),
        ("A:\\", "C to Z"),
        ("B:\\x", "C to Z"),
        ("1:\\", "drive letter C-Z"),
        ("X:/", "drive letter C-Z"),
        ("X:\\a b", "spaces"),
        ("X:\\é", "ASCII"),
        ("X:\\a\\\\b", "'\\\\'"),
        ("X:\\..\\a", "absolute"),
        ("X:\\a\\.", "absolute"),
        ("X:\\a*", "forbids"),
    ],
)
def test_target_paths_refused(path: str, why: str) -> None:
    with pytest.raises(UsageError) as info:
        check_target_path(path)
    assert why in str(info.value)


def test_settings_land_where_winpe_reads_them(kit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = {
        "Windows/System32/config/SYSTEM": kit.make_system_hive(current=2),
        "Windows/System32/config/SOFTWARE": kit.make_software_hive(),
    }
    editor = RegistryEditor(files.get)
    assert read_pe_settings(editor).scratch_space is None
    apply_pe_settings(editor, scratch_space=SCRATCH_SPACE_SIZES[-1], target_path="X:\\")
    assert editor.get_value("HKLM\\SYSTEM\\ControlSet002\\Services\\FBWF", "WinPECacheThreshold").data == (
        512
    ).to_bytes(4, "little")
    value = editor.get_value("HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\WinPE", "InstRoot")
    assert value.type == 1 and value.data == "X:\\\0".encode("utf-16-le")
    again = read_pe_settings(RegistryEditor(lambda p: editor.serialized(timestamp=0)[p]))
    assert (again.scratch_space, again.target_path) == (512, "X:\\")
    written = editor.serialized(timestamp=0)  # hivex: Select\Current is 2, so ControlSet002
    system = kit.hivex_values_of(written["Windows/System32/config/SYSTEM"], tmp_path / "SYSTEM")
    software = kit.hivex_values_of(written["Windows/System32/config/SOFTWARE"], tmp_path / "SOFTWARE")
    assert system["ControlSet002\\Services\\FBWF"]["WinPECacheThreshold"] == (4, (512).to_bytes(4, "little"))
    assert "WinPECacheThreshold" not in system["ControlSet001\\Services\\FBWF"]
    winpe = software["Microsoft\\Windows NT\\CurrentVersion\\WinPE"]
    assert winpe["InstRoot"] == (1, "X:\\\0".encode("utf-16-le"))
