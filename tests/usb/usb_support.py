"""A small WinPE-shaped media tree for the USB tests (names as the builder writes them)."""

from __future__ import annotations

import random
from pathlib import Path

from pebuild.bcd import presets
from pebuild.sample.stubs import bootmgr_program, efi_program


def make_media(
    root: Path,
    *,
    bios_marker: str = "PEBUILD-SAMPLE bootmgr",
    uefi_marker: str = "PEBUILD-SAMPLE bootx64.efi",
    wim_size: int = 300_000,
    arch: str = "amd64",
    bootmgr_size: int = 8192,
) -> Path:
    rng = random.Random(9)
    media = root / "media"
    for d in ("efi/boot", "efi/microsoft/boot/fonts", "sources", "Boot/Fonts", "Boot/en-us", "empty"):
        (media / d).mkdir(parents=True, exist_ok=True)
    (media / "bootmgr").write_bytes(bootmgr_program(bios_marker, size=bootmgr_size))
    efi_name = {"amd64": "bootx64.efi", "x86": "bootia32.efi"}.get(arch, "bootx64.efi")
    (media / "efi/boot" / efi_name).write_bytes(efi_program(uefi_marker, arch=arch))
    (media / "bootmgr.efi").write_bytes(rng.randbytes(7000))
    # what the sample bootmgr reads on BIOS: a BIOS store naming \boot\boot.sdi and \sources\boot.wim,
    # and those two files with the signatures it checks
    bcd = presets.create("iso-bios", presets.PresetOptions(), timestamp=0).serialize(0)
    (media / "Boot/BCD").write_bytes(bcd)
    (media / "Boot/boot.sdi").write_bytes(b"$SDI0001" + rng.randbytes(30_000 - 8))
    (media / "Boot/Fonts/wgl4_boot.ttf").write_bytes(rng.randbytes(4000))
    (media / "Boot/en-us/bootmgr.exe.mui").write_bytes(rng.randbytes(900))
    (media / "efi/microsoft/boot/efisys_noprompt.bin").write_bytes(rng.randbytes(2048))
    (media / "efi/microsoft/boot/fonts/segmono_boot.ttf").write_bytes(rng.randbytes(1500))
    (media / "sources/boot.wim").write_bytes(b"MSWIM\0\0\0" + rng.randbytes(wim_size - 8))
    return media


def tree_bytes(media: Path) -> dict[str, bytes]:
    return {
        p.relative_to(media).as_posix().casefold(): p.read_bytes() for p in media.rglob("*") if p.is_file()
    }
