"""INF parsing/validation on committed good and bad driver packages (tests/servicing/data/inf)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pebuild.errors import RecipeError
from pebuild.servicing.drivers import drvload_line, find_infs, parse_inf, validate_driver

INF = Path(__file__).parent / "data" / "inf"


@pytest.mark.parametrize(
    ("arch", "files"),
    [
        ("x86", ["rtnet.inf", "rtnet86.cat", "x86/rtnet.sys"]),
        ("amd64", ["amd64/RTNET.SYS", "rtnet.inf", "rtnet64.cat"]),
    ],
)
def test_multiarch_net_driver_picks_the_arch_files(arch: str, files: list[str]) -> None:
    pkg = validate_driver(INF / "good_net_multiarch" / "rtnet.inf", arch)
    assert pkg.class_name == "Net"
    assert pkg.class_guid.lower() == "{4d36e972-e325-11ce-bfc1-08002be10318}"
    assert pkg.files == files
    assert drvload_line(pkg) == "drvload X:\\Drivers\\rtnet\\rtnet.inf"


def test_utf16_storage_driver_with_subdir_and_at_files() -> None:
    assert (INF / "good_storage_amd64" / "nvstor.inf").read_bytes()[:2] == b"\xff\xfe"
    pkg = validate_driver(INF / "good_storage_amd64" / "nvstor.inf", "amd64")
    assert pkg.class_name == "SCSIAdapter"
    assert pkg.files == ["files/NvStor.dll", "files/nvstor.sys", "nvstor.cat", "nvstor.inf"]
    assert pkg.catalog.name == "nvstor.cat"


def test_parser_expands_strings_and_joins_continuations() -> None:
    inf = parse_inf((INF / "good_storage_amd64" / "nvstor.inf").read_bytes(), Path("nvstor.inf"))
    models = inf.section("nvidia.ntamd64")
    assert models is not None and len(models) == 1
    assert models[0].key == "NVIDIA nForce Serial ATA Controller"
    assert models[0].fields == ["nvstor_Inst", "PCI\\VEN_10DE&DEV_0054", "PCI\\VEN_10DE&DEV_0055"]


BAD = [
    ("good_net_multiarch/rtnet.inf", "arm64", "driver is for amd64, x86, not arm64"),
    ("good_storage_amd64/nvstor.inf", "x86", "driver is for amd64, not x86"),
    ("bad_wrong_arch/amd64only.inf", "x86", "driver is for amd64, not x86"),
    ("bad_wrong_arch/amd64only.inf", "ia64", "not ia64"),
    ("bad_missing_file/missing.inf", "amd64", "'missing.sys' (CopyFiles) is missing"),
    ("bad_missing_catalog/nocat.inf", "amd64", "catalog 'drv.cat' named by CatalogFile is missing"),
    ("bad_no_class/noclass.inf", "amd64", "needs both Class and ClassGuid"),
    ("bad_models_section/models.inf", "amd64", "models section [Nowhere.NTamd64], which is missing"),
    ("bad_not_pe/notpe.inf", "amd64", "amd64/rtnet.sys is not a PE file (no MZ/PE header)"),
    (
        "bad_not_in_sourcedisks/unlisted.inf",
        "amd64",
        "'extra.sys' (CopyFiles) is not listed in [SourceDisksFiles]",
    ),
]


@pytest.mark.parametrize(("inf", "arch", "fragment"), BAD)
def test_bad_packages_name_the_inf(inf: str, arch: str, fragment: str) -> None:
    with pytest.raises(RecipeError) as info:
        validate_driver(INF / inf, arch)
    message = str(info.value)
    assert str(INF / inf) in message and fragment in message and "\n" not in message


def test_a_driver_binary_of_another_machine_is_refused(tmp_path: Path) -> None:
    import shutil

    pkg = tmp_path / "rtnet"
    shutil.copytree(INF / "good_net_multiarch", pkg)
    shutil.copy(pkg / "x86" / "rtnet.sys", pkg / "amd64" / "RTNET.SYS")  # the 32-bit binary in the x64 folder
    with pytest.raises(
        RecipeError, match=r"rtnet.inf: amd64/RTNET.SYS is an x86 PE file but the build is for amd64"
    ):
        validate_driver(pkg / "rtnet.inf", "amd64")


def test_force_unsigned_stages_a_package_without_its_catalog(tmp_path: Path) -> None:
    import shutil

    pkg = tmp_path / "rtnet"
    shutil.copytree(INF / "good_net_multiarch", pkg)
    (pkg / "rtnet64.cat").unlink()
    with pytest.raises(RecipeError, match=r"catalog 'rtnet64\.cat' named by CatalogFile is missing"):
        validate_driver(pkg / "rtnet.inf", "amd64")
    found = validate_driver(pkg / "rtnet.inf", "amd64", force_unsigned=True)
    assert found.catalog is None and found.files == ["amd64/RTNET.SYS", "rtnet.inf"]
    assert found.provider == "Realtek" and found.driver_ver.startswith("06/21/2006")


def test_unreadable_and_non_driver_inf(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="cannot read driver INF"):
        validate_driver(tmp_path / "absent.inf", "amd64")
    (tmp_path / "plain.inf").write_text("[Strings]\nA=b\n")
    with pytest.raises(RecipeError, match=r"no \[Version\] section"):
        validate_driver(tmp_path / "plain.inf", "amd64")
    (tmp_path / "broken.inf").write_text("[Version\n")
    with pytest.raises(RecipeError, match=r"broken.inf:1: section header"):
        validate_driver(tmp_path / "broken.inf", "amd64")


def test_find_infs_in_a_tree_sorted() -> None:
    found = [p.relative_to(INF).as_posix() for p in find_infs(INF)]
    assert found == sorted(found) and "good_storage_amd64/nvstor.inf" in found
    assert find_infs(INF / "bad_no_class" / "noclass.inf") == [INF / "bad_no_class" / "noclass.inf"]
