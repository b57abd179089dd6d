"""The kit's own boot files boot: an ISO made from its Media and Oscdimg folders plus its
winpe.wim as sources/boot.wim, like copype + MakeWinPEMedia would, under SeaBIOS and OVMF. Each
run asserts the exact program's marker; on amd64 UEFI the efisys stand-in's facts line, which
smoke compares with the ISO's files (tests/qemu/test_qemu_standin_uefi.py: gutted discs)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.errors import ToolError
from pebuild.qemu import SmokeRequest, find_ovmf, smoke
from pebuild.qemu.standin import UEFI_EXPECT
from pebuild.sample import build_sample_source

pytestmark = pytest.mark.smoke


@pytest.fixture(scope="module")
def kit_isos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("qemu-system-x86_64")
    from pebuild.iso import IsoRequest, write_iso

    root = tmp_path_factory.mktemp("kitboot")
    kit = build_sample_source(root / "kit", "amd64")
    media = root / "media"
    shutil.copytree(kit / "Windows Preinstallation Environment" / "amd64" / "Media", media)
    (media / "sources").mkdir()
    shutil.copyfile(
        kit / "Windows Preinstallation Environment" / "amd64" / "en-us" / "winpe.wim",
        media / "sources" / "boot.wim",
    )
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
@pytest.mark.parametrize("prompt", [True, False], ids=["prompt", "noprompt"])
def test_kit_iso_uefi_runs_the_efisys_variant(
    kit_isos: dict[str, Path], prompt: bool, tmp_path: Path
) -> None:
    try:
        find_ovmf("amd64")
    except ToolError as exc:
        pytest.skip(str(exc))
    log = tmp_path / "uefi.log"
    result = smoke(
        SmokeRequest(
            kit_isos["prompt" if prompt else "noprompt"], "uefi", expect=[UEFI_EXPECT[prompt]], serial_log=log
        )
    )
    assert result.ok, result.reason
    # the facts line matched the ISO's own files
    assert "bootx64.efi loaded \\EFI\\Microsoft\\Boot\\BCD (winload.efi, sha256 " in result.reason
    assert (
        "ramdisk \\boot\\boot.sdi " in result.reason and "; next \\EFI\\Boot\\bootx64.efi " in result.reason
    )
    # the prompt and the noprompt image are told apart: the other image's pattern does not match
    assert re.search(UEFI_EXPECT[not prompt], log.read_text("latin-1")) is None


@pytest.mark.slow
def test_x86_kit_iso_uefi_runs_bootia32_under_ia32_ovmf(kit_isos: dict[str, Path]) -> None:
    try:
        find_ovmf("x86")
    except ToolError as exc:
        pytest.skip(str(exc))
    result = smoke(
        SmokeRequest(kit_isos["x86"], "uefi", arch="x86", expect=[r"PEBUILD-SAMPLE bootia32\.efi fw=EDK II"])
    )
    assert result.ok, result.reason
