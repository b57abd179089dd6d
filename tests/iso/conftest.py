"""Fixtures for the ISO tests: a WinPE-shaped media tree and real boot programs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # iso_support.py for the test modules

from pebuild.fat import efisys_image
from pebuild.sample.stubs import bios_program, efi_program

BIOS_MARKER = "PEBUILD-SAMPLE etfsboot.com"
UEFI_MARKER = "PEBUILD-SAMPLE bootx64.efi"


@dataclass
class Kit:
    media: Path
    bios: Path  # outside media, like ADK fwfiles\etfsboot.com
    uefi: Path
    files: dict[str, bytes]  # relative path in media -> content


def make_media(root: Path) -> dict[str, bytes]:
    files = {
        "bootmgr": b"BOOTMGR stand-in\x00" * 64,
        "bootmgr.efi": b"MZ" + b"\x00" * 1000,
        "boot/bcd": b"regf" + b"\x00" * 8188,
        "boot/boot.sdi": b"$SDI0001" + b"\x00" * 20000,
        "boot/fonts/wgl4_boot.ttf": os.urandom(3000),
        "EFI/Microsoft/Boot/BCD": b"regf" + b"\x01" * 4000,
        "EFI/Boot/bootx64.efi": b"MZ" + os.urandom(2000),
        "sources/boot.wim": os.urandom(300_000),
        "Tools/Some Long Mixed-Case Tool Name v2.exe": b"MZ tool",
        "a/b/c/d/e/f/g/h/deep file.txt": b"deep",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    media = tmp_path / "media"
    files = make_media(media)
    fw = tmp_path / "fwfiles"
    fw.mkdir()
    (fw / "etfsboot.com").write_bytes(bios_program(BIOS_MARKER, size=4096))
    (fw / "efisys.bin").write_bytes(efisys_image({"EFI/BOOT/BOOTX64.EFI": efi_program(UEFI_MARKER)}))
    return Kit(media, fw / "etfsboot.com", fw / "efisys.bin", files)
