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
from bios_chain import check_iso_line
from pebuild.qemu import SmokeRequest, find_ovmf, smoke
from pebuild.qemu.standin import UEFI_EXPECT
from pebuild.sample import build_sample_source

pytestmark = pytest.mark.smoke


def _copype(kit: Path, arch: str, dest: Path) -> Path:
    """What copype does: the kit's Media folder plus its winpe.wim as sources/boot.wim."""
    wpe = kit / "Windows Preinstallation Environment" / arch
    shutil.copytree(wpe / "Media", dest)
    (dest / "sources").mkdir()
    shutil.copyfile(wpe / "en-us" / "winpe.wim", dest / "sources" / "boot.wim")
    return dest


@pytest.fixture(scope="module")
def kit_isos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("qemu-system-x86_64")
    from pebuild.iso import IsoRequest, write_iso

    root = tmp_path_factory.mktemp("kitboot")
    kit = build_sample_source(root / "kit", "amd64")
    media = _copype(kit, "amd64", root / "media")
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
            _copype(kit32, "x86", root / "media32"),
            isos["x86"],
            bios_boot=kit32 / "Deployment Tools" / "x86" / "Oscdimg" / "etfsboot.com",
            uefi_boot=kit32 / "Deployment Tools" / "x86" / "Oscdimg" / "efisys.bin",
        )
    )
    return isos


def test_kit_iso_bios_runs_etfsboot_then_bootmgr(kit_isos: dict[str, Path], tmp_path: Path) -> None:
    """etfsboot.com loads \\bootmgr from the disc, bootmgr reads the BCD, boot.sdi and boot.wim."""
    log = tmp_path / "serial.log"
    result = smoke(
        SmokeRequest(kit_isos["prompt"], "bios", expect=[r"PEBUILD-SAMPLE bootmgr bcd="], serial_log=log)
    )
    assert result.ok, result.reason
    serial = log.read_text("latin-1")
    assert re.search(r"etfsboot\.com: \\BOOTMGR lba=\d+ size=8192 dl=E0", serial), serial
    check_iso_line(serial, kit_isos["prompt"].parent / "media")  # the facts are the media's own files


@pytest.mark.slow
@pytest.mark.parametrize("prompt", [True, False], ids=["prompt", "noprompt"])
def test_kit_iso_uefi_runs_the_efisys_variant(
    kit_isos: dict[str, Path], prompt: bool, tmp_path: Path
) -> None:
    find_ovmf("amd64")  # a ToolError fails: pebuild's OVMF lookup is under test too
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
    find_ovmf("x86")  # a ToolError fails (ovmf-ia32 is in the package list)
    result = smoke(
        SmokeRequest(kit_isos["x86"], "uefi", arch="x86", expect=[r"PEBUILD-SAMPLE bootia32\.efi fw=EDK II"])
    )
    assert result.ok, result.reason
