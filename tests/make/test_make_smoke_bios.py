"""A BIOS smoke pass means the disc is complete: the sample chain etfsboot.com -> bootmgr reads
\\bootmgr, \\Boot\\BCD and the ramdisk's boot.sdi and boot.wim, so a disc without any of them fails.

One ISO from `pebuild make` (the capture recipe on a test ADK, like test_make_smoke.py); the gutted
discs are that ISO's files (extracted by xorriso) less one, written again by pebuild's ISO writer.
Each boot takes well under a second of TCG: the stand-ins power the machine off at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _helpers import require_tool
from bios_chain import check_iso_line, extract_iso, gut_iso

sys.path.insert(0, str(Path(__file__).parents[1] / "source"))
import pebuild_test_kits as kits

from pebuild.make import BuildRequest, build
from pebuild.qemu import SmokeRequest, smoke

REPO = Path(__file__).resolve().parents[2]
LINE = r"PEBUILD-SAMPLE bootmgr bcd="

pytestmark = [pytest.mark.smoke]


@pytest.fixture(scope="module")
def disc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the ISO, its files, the kit's etfsboot.com)."""
    require_tool("qemu-system-x86_64")
    root = tmp_path_factory.mktemp("biosdisc")
    kit = kits.make_adk(root / "kit", "amd64", root)
    iso = root / "amd64.iso"
    build(
        BuildRequest(
            arch="amd64", recipe=REPO / "recipes" / "capture.toml", source=str(kit), output=iso, timestamp=1
        )
    )
    return (
        iso,
        extract_iso(iso, root / "tree"),
        kit / "Deployment Tools" / "amd64" / "Oscdimg" / "etfsboot.com",
    )


def _boot(iso: Path, log: Path):
    return smoke(
        SmokeRequest(media=iso, firmware="bios", arch="amd64", expect=[LINE], timeout=60, serial_log=log)
    )


def test_complete_disc_prints_its_own_files(disc: tuple[Path, Path, Path], tmp_path: Path) -> None:
    iso, tree, _ = disc
    result = _boot(iso, tmp_path / "serial.log")
    assert result.ok, result.reason
    serial = (tmp_path / "serial.log").read_text("latin-1")
    assert "etfsboot.com: \\BOOTMGR lba=" in serial  # the El Torito image loaded it, not a shortcut
    line = check_iso_line(serial, tree)
    assert "sdi=\\boot\\boot.sdi:" in line and "wim=\\sources\\boot.wim:" in line


@pytest.mark.parametrize(
    ("drop", "why"),
    [
        ("bootmgr", "pebuild-standin etfsboot.com: BOOTMGR is not in the root directory of the disc"),
        ("Boot/BCD", "pebuild-standin bootmgr: \\Boot\\BCD: not on the disc"),
        ("Boot/boot.sdi", "pebuild-standin bootmgr: \\boot\\boot.sdi: not on the disc"),
        ("sources/boot.wim", "pebuild-standin bootmgr: \\sources\\boot.wim: not on the disc"),
    ],
)
def test_disc_without_a_chain_file_fails_the_smoke(
    disc: tuple[Path, Path, Path], tmp_path: Path, drop: str, why: str
) -> None:
    _, tree, etfsboot = disc
    gutted = gut_iso(tree, etfsboot, drop, tmp_path / "gutted.iso", tmp_path)
    log = tmp_path / "serial.log"
    result = _boot(gutted, log)
    assert not result.ok
    assert why in result.reason, result.reason
    assert "PEBUILD-SAMPLE" not in log.read_text("latin-1")  # no marker at all: nothing to match


def test_damaged_wim_fails_the_smoke(disc: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """Present but not a WIM: bootmgr checks the header, not only the name."""
    from pebuild.iso import IsoRequest, write_iso

    _, tree, etfsboot = disc
    media = tmp_path / "media"
    import shutil

    shutil.copytree(tree, media)
    wim = media / "sources" / "boot.wim"
    wim.write_bytes(b"NOTAWIM\0" + wim.read_bytes()[8:])
    write_iso(IsoRequest(media, tmp_path / "damaged.iso", bios_boot=etfsboot, timestamp=1))
    result = _boot(tmp_path / "damaged.iso", tmp_path / "serial.log")
    assert not result.ok
    assert "pebuild-standin bootmgr: \\sources\\boot.wim: wrong header" in result.reason, result.reason
