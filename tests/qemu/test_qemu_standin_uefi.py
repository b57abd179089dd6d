"""The UEFI stand-in chain under OVMF (issue 20): efisys.bin's bootx64.efi reads the disc's BCD,
boot.sdi, boot.wim and the boot manager it hands over to, and `pebuild smoke` compares what it
printed with the ISO's own files. Gutted media must fail; each case is one QEMU boot.

The passing boots of the prompt and noprompt images are tests/sample/test_sample_boot.py. The
ISOs are written by pebuild's writer from the sample kit's Media plus its winpe.wim as
sources/boot.wim (what copype does), minus the file a case deletes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from _helpers import require_tool
from pebuild.iso import IsoRequest, write_iso
from pebuild.qemu import SmokeRequest, smoke
from pebuild.sample.kit import sample_source_path

pytestmark = [pytest.mark.smoke, pytest.mark.slow]


@pytest.fixture(scope="module")
def kit() -> Path:
    return sample_source_path("amd64")


def _media(kit: Path, dest: Path) -> Path:
    shutil.copytree(kit / "Windows Preinstallation Environment/amd64/Media", dest)
    (dest / "sources").mkdir()
    shutil.copyfile(
        kit / "Windows Preinstallation Environment/amd64/en-us/winpe.wim", dest / "sources/boot.wim"
    )
    return dest


def _iso(kit: Path, tmp_path: Path, delete: str) -> Path:
    media = _media(kit, tmp_path / "media")
    (media / delete).unlink()
    efisys = kit / "Deployment Tools/amd64/Oscdimg/efisys.bin"
    iso = tmp_path / "winpe.iso"
    write_iso(
        IsoRequest(media, iso, kit / "Deployment Tools/amd64/Oscdimg/etfsboot.com", efisys, timestamp=1)
    )
    return iso


def _boot(iso: Path, tmp_path: Path, expect: list[str] | None = None):  # type: ignore[no-untyped-def]
    require_tool("qemu-system-x86_64")
    log = tmp_path / "uefi.log"
    result = smoke(
        SmokeRequest(iso, firmware="uefi", arch="amd64", expect=expect or [], serial_log=log, timeout=90)
    )
    return result, log.read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("delete", "named"),
    [
        ("EFI/Boot/bootx64.efi", "\\EFI\\Boot\\bootx64.efi not found"),
        ("EFI/Microsoft/Boot/BCD", "\\EFI\\Microsoft\\Boot\\BCD not found on any file system"),
        ("Boot/boot.sdi", "\\boot\\boot.sdi not found"),
        ("sources/boot.wim", "\\sources\\boot.wim not found"),
    ],
)
def test_gutted_media_fails_the_uefi_smoke(kit: Path, tmp_path: Path, delete: str, named: str) -> None:
    result, serial = _boot(_iso(kit, tmp_path, delete), tmp_path)
    assert not result.ok, (delete, result.reason)
    assert "the stand-in boot program failed: pebuild-standin bootx64.efi: " in result.reason
    assert named in result.reason
    assert "PEBUILD-SAMPLE" not in serial  # no marker: nothing can match an --expect on it


def test_a_bcd_that_is_not_the_uefi_store_fails_the_comparison(kit: Path, tmp_path: Path) -> None:
    """The stand-in reads whatever \\EFI\\Microsoft\\Boot\\BCD holds; smoke sees it is the BIOS store."""
    media = _media(kit, tmp_path / "media")
    shutil.copyfile(media / "Boot/BCD", media / "EFI/Microsoft/Boot/BCD")
    iso = tmp_path / "winpe.iso"
    oscdimg = kit / "Deployment Tools/amd64/Oscdimg"
    write_iso(IsoRequest(media, iso, oscdimg / "etfsboot.com", oscdimg / "efisys.bin", timestamp=1))
    result, _serial = _boot(iso, tmp_path)
    assert not result.ok
    assert result.reason.startswith(
        "wrong boot: bootx64.efi loaded \\EFI\\Microsoft\\Boot\\BCD, a store without winload.efi"
    ), result.reason
