"""The kit's own boot files boot: an ISO made from its Media and Oscdimg folders, like copype +
MakeWinPEMedia would, under SeaBIOS and OVMF. Each run asserts the exact program's marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.qemu import SmokeRequest, find_ovmf, smoke
from pebuild.sample import build_sample_source

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def kit_isos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("qemu-system-x86_64")
    from pebuild.iso import IsoRequest, write_iso

    root = tmp_path_factory.mktemp("kitboot")
    kit = build_sample_source(root / "kit", "amd64")
    media = kit / "Windows Preinstallation Environment" / "amd64" / "Media"
    oscdimg = kit / "Deployment Tools" / "amd64" / "Oscdimg"
    isos = {}
    for name, efisys in (("prompt", "efisys.bin"), ("noprompt", "efisys_noprompt.bin")):
        isos[name] = root / f"{name}.iso"
        write_iso(
            IsoRequest(media, isos[name], bios_boot=oscdimg / "etfsboot.com", uefi_boot=oscdimg / efisys)
        )
    kit32 = build_sample_source(root / "kit32", "x86")
    isos["x86"] = root / "x86.iso"
    write_iso(
        IsoRequest(
            kit32 / "Windows Preinstallation Environment" / "x86" / "Media",
            isos["x86"],
            bios_boot=kit32 / "Deployment Tools" / "x86" / "Oscdimg" / "etfsboot.com",
            uefi_boot=kit32 / "Deployment Tools" / "x86" / "Oscdimg" / "efisys.bin",
        )
    )
    return isos


def test_kit_iso_bios_runs_etfsboot(kit_isos: dict[str, Path]) -> None:
    result = smoke(SmokeRequest(kit_isos["prompt"], "bios", expect=[r"PEBUILD-SAMPLE etfsboot\.com dl=E0"]))
    assert result.ok, result.reason


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "pattern"),
    [
        ("prompt", r"PEBUILD-SAMPLE bootx64\.efi fw=EDK II"),
        ("noprompt", r"PEBUILD-SAMPLE bootx64\.efi noprompt fw="),
    ],
)
def test_kit_iso_uefi_runs_the_efisys_variant(kit_isos: dict[str, Path], variant: str, pattern: str) -> None:
    find_ovmf("amd64")  # a ToolError fails: pebuild's OVMF lookup is under test too
    result = smoke(SmokeRequest(kit_isos[variant], "uefi", expect=[pattern]))
    assert result.ok, result.reason


@pytest.mark.slow
def test_x86_kit_iso_uefi_runs_bootia32_under_ia32_ovmf(kit_isos: dict[str, Path]) -> None:
    find_ovmf("x86")  # a ToolError fails (ovmf-ia32 is in the package list)
    result = smoke(
        SmokeRequest(kit_isos["x86"], "uefi", arch="x86", expect=[r"PEBUILD-SAMPLE bootia32\.efi fw=EDK II"])
    )
    assert result.ok, result.reason
