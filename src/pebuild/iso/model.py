"""Request and result of an ISO write (the `pebuild.iso` contract in docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pebuild.outputs import OutputOptions


@dataclass
class IsoRequest:
    """What to put on the disc and how to boot it.

    `bios_boot` is the El Torito no-emulation image (etfsboot.com), `uefi_boot`
    the FAT image for the platform 0xEF section (efisys.bin). Either may live
    inside `media_dir` or outside it, like oscdimg's fwfiles\\etfsboot.com.
    `hide_boot_images`: None (default) behaves like oscdimg: an image inside the
    tree stays visible where it is, one from outside is reachable only through
    the boot catalog; True hides both; False shows both (an outside image is
    added at the root under its own name).

    The last three fields go beyond design.md's list and default to the
    behaviour it describes: `udf_only` is oscdimg -u2 (all files only in UDF, a
    README.TXT on the ISO 9660 side), `dedupe` is oscdimg -o (identical files
    stored once), `uefi_sector_count` overrides the 0xEF entry's count
    (None = the whole image in 512-byte units).
    """

    media_dir: Path
    output: Path
    bios_boot: Path | None = None
    uefi_boot: Path | None = None
    label: str = "WINPE"
    udf: bool = True
    joliet: bool = True
    hide_boot_images: bool | None = None
    timestamp: int | None = None
    bios_load_segment: int = 0x07C0
    bios_sector_count: int = 8
    file_order: list[str] | None = None
    udf_only: bool = False
    dedupe: bool = False
    uefi_sector_count: int | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)  # --force, --no-wait (pebuild.outputs)


@dataclass(frozen=True)
class IsoResult:
    path: Path
    size: int
    sha256: str
