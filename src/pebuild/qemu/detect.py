"""What a piece of media boots: its arch(es) and firmware, read from the media itself.

`pebuild smoke` uses this to pick QEMU, machine and firmware without being told:

* an ISO: the El Torito boot catalog (ECMA-119 + "El Torito" Bootable CD-ROM Format
  Specification 1.0: Boot Record Volume Descriptor at sector 17, validation entry,
  default entry, section headers 0x90/0x91 with platform ID 0x00 = x86 BIOS, 0xEF = EFI);
  the EFI entry's image is a FAT file system whose `EFI/BOOT/BOOT<x>.EFI` names the arch;
* a raw disk image: the MBR (boot code + active FAT partition = BIOS) and the partitions
  (MBR, or GPT behind a protective 0xEE entry) whose FAT holds `EFI/BOOT/BOOT<x>.EFI`;
* a PXE tree: `Boot/<x64|x86|arm64|ia64>/` with `pxeboot.n12`/`pxeboot.com` (BIOS) and
  `bootmgfw.efi` (UEFI), the WDS layout pebuild writes (pxe/arches.py).

The removable-media file name is the UEFI spec's (§3.5.1.1): BOOTX64.EFI, BOOTIA32.EFI,
BOOTAA64.EFI, BOOTIA64.EFI. Every finding is kept as evidence for the verdict. The
formats are read by pebuild.iso.catalog, pebuild.usb.partitions and pebuild.fat.reader;
what they find damaged becomes evidence too, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from pebuild.arches import BIOS_ARCHES, EFI_NAME
from pebuild.errors import FormatError, UsageError
from pebuild.fat import fat_type, is_fat_image
from pebuild.fat.reader import FatVolume
from pebuild.iso.catalog import PLATFORM_EFI, PLATFORM_X86, read_boot_catalog
from pebuild.qemu.model import SmokeRequest
from pebuild.usb.partitions import (
    ESP_TYPE,
    MBR_FAT_TYPES,
    MBR_TYPE_ESP,
    MBR_TYPE_PROTECTIVE,
    SECTOR,
    read_partitions,
)

#: EFI boot file suffix (upper case) -> ADK arch
EFI_SUFFIX_ARCH = {v.upper(): k for k, v in EFI_NAME.items()}
#: WDS Boot\<dir> -> ADK arch (the names pxe/arches.py writes)
PXE_DIRS = {"x64": "amd64", "x86": "x86", "arm64": "arm64", "ia64": "ia64"}
#: arch chosen when the media boots several and none is asked for (the common case first)
PREFERENCE = ("amd64", "x86", "arm64", "ia64")


@dataclass
class MediaProfile:
    """What the media can boot. `uefi_arches` from EFI boot file names; `bios` from boot entries."""

    kind: str  # iso | disk | pxe
    bios: bool = False
    uefi_arches: list[str] = field(default_factory=list)
    bios_arches: list[str] = field(default_factory=list)  # PXE trees say which BIOS arch; media do not
    evidence: list[str] = field(default_factory=list)

    def arches(self) -> list[str]:
        found = {*self.uefi_arches, *self.bios_arches}
        return [a for a in PREFERENCE if a in found]

    def describe(self) -> str:
        parts = []
        if self.bios:
            parts.append("BIOS" + (f" ({', '.join(self.bios_arches)})" if self.bios_arches else ""))
        if self.uefi_arches:
            parts.append(f"UEFI ({', '.join(a for a in PREFERENCE if a in self.uefi_arches)})")
        return " + ".join(parts) or "nothing bootable found"

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "bios": self.bios,
            "uefi_arches": self.uefi_arches,
            "bios_arches": self.bios_arches,
            "evidence": self.evidence,
        }


def detect_media(path: Path, kind: str) -> MediaProfile:
    """Read `path` (kind 'iso', 'disk' or 'pxe') and say what it boots; never raises on odd media."""
    profile = MediaProfile(kind)
    if kind == "pxe":
        _detect_pxe(path, profile)
        return profile
    with open(path, "rb") as fh:
        if kind == "iso":
            _detect_iso(fh, path, profile)
        else:
            _detect_disk(fh, path, profile)
    return profile


# ------------------------------------------------------------------------------------ PXE


def _detect_pxe(root: Path, profile: MediaProfile) -> None:
    boot = _child(root, "Boot")
    if boot is None:
        profile.evidence.append(f"no Boot/ folder in {root}")
        return
    for entry in sorted(boot.iterdir()):
        arch = PXE_DIRS.get(entry.name.lower())
        if arch is None or not entry.is_dir():
            continue
        names = {p.name.lower() for p in entry.iterdir() if p.is_file()}
        if names & {"pxeboot.n12", "pxeboot.com"}:
            profile.bios = True
            profile.bios_arches.append(arch)
            profile.evidence.append(f"Boot/{entry.name}/pxeboot.n12")
        if "bootmgfw.efi" in names:
            profile.uefi_arches.append(arch)
            profile.evidence.append(f"Boot/{entry.name}/bootmgfw.efi")


def _child(parent: Path, name: str) -> Path | None:
    if not parent.is_dir():
        return None
    for entry in parent.iterdir():
        if entry.name.lower() == name.lower():
            return entry
    return None


# ------------------------------------------------------------------------------------ ISO


def _detect_iso(fh: BinaryIO, path: Path, profile: MediaProfile) -> None:
    try:
        catalog = read_boot_catalog(fh, path=path)
    except FormatError as exc:
        profile.evidence.append(f"unreadable El Torito boot catalog: {exc.message}")
        return
    if catalog is None:
        profile.evidence.append("no El Torito boot record at sector 17")
        return
    for entry in catalog.entries:
        if not entry.bootable:
            continue
        if entry.platform == PLATFORM_X86:
            profile.bios = True
            profile.evidence.append(f"El Torito x86 BIOS entry (image at sector {entry.load_rba})")
        elif entry.platform == PLATFORM_EFI:
            profile.evidence.append(f"El Torito EFI entry (image at sector {entry.load_rba})")
            names = _fat_efi_boot_names(fh, entry.offset, path, profile)
            _add_efi_names(profile, names, f"in the EFI image at sector {entry.load_rba}")


# ------------------------------------------------------------------------------------ disk


def _detect_disk(fh: BinaryIO, path: Path, profile: MediaProfile) -> None:
    if is_fat_image(fh.read(SECTOR)):  # a superfloppy: the whole disk is one FAT volume
        profile.bios = True
        profile.evidence.append("FAT boot sector at sector 0 (superfloppy)")
        _add_efi_names(profile, _fat_efi_boot_names(fh, 0, path, profile), "on the disk's FAT volume")
        return
    try:
        layout = read_partitions(fh, path=path)
    except FormatError as exc:
        profile.evidence.append(f"unreadable partition table: {exc.message}")
        return
    if layout is None:
        profile.evidence.append("no MBR boot signature in sector 0")
        return
    volumes: list[tuple[int, str]] = []
    for i, entry in enumerate(layout.mbr):
        if entry.type == MBR_TYPE_PROTECTIVE:
            for number, part in layout.gpt or ():
                what = "ESP" if part.type_guid == ESP_TYPE else "partition"
                volumes.append((part.first_lba * SECTOR, f"GPT {what} {number}"))
        elif entry.type in MBR_FAT_TYPES and entry.start_lba:
            volumes.append((entry.start_lba * SECTOR, f"MBR partition {i + 1}"))
            if entry.bootable and layout.has_boot_code and entry.type != MBR_TYPE_ESP:
                profile.bios = True
                profile.evidence.append(f"MBR boot code + active FAT partition {i + 1}")
    seen: set[int] = set()
    for offset, where in volumes:
        if offset in seen:
            continue
        seen.add(offset)
        _add_efi_names(profile, _fat_efi_boot_names(fh, offset, path, profile), f"on {where}")


def _add_efi_names(profile: MediaProfile, names: list[str], where: str) -> None:
    for name in names:
        arch = EFI_SUFFIX_ARCH.get(name.upper().removeprefix("BOOT").removesuffix(".EFI"))
        if arch is None:
            continue
        profile.evidence.append(f"EFI/BOOT/{name} {where}")
        if arch not in profile.uefi_arches:
            profile.uefi_arches.append(arch)


def _fat_efi_boot_names(fh: BinaryIO, base: int, path: Path, profile: MediaProfile) -> list[str]:
    """8.3 names of the files in EFI/BOOT of the FAT volume at byte `base` (empty when there is none)."""
    fh.seek(base)
    if fat_type(fh.read(SECTOR)) is None:
        return []
    try:
        fat = FatVolume(fh, base, name=f"{path}@{base}")
        boot = fat.find("EFI/BOOT")
        if boot is None or not boot.is_dir:
            return []
        return sorted(e.short_name for e in fat.entries(boot.first_cluster) if not e.is_dir)
    except FormatError as exc:
        profile.evidence.append(f"damaged FAT volume at byte {base}: {exc.message}")
        return []


# ------------------------------------------------------------------------------------ choice


def resolve_media(req: SmokeRequest, kind: str) -> tuple[SmokeRequest, MediaProfile]:
    """Fill in the arch and firmware the media boots; what the user gave wins (--arch, --firmware).

    The firmware default stays BIOS where the media has a BIOS boot path (the fastest boot);
    media that boot UEFI only (arm64, GPT-only USB images) get UEFI. Asking for something
    the media visibly lacks is an error that says what the media has, not a firmware
    "Not Found" after a minute of emulation.
    """
    profile = detect_media(req.media, kind)
    arch = req.arch
    if arch is None:
        pool = profile.uefi_arches if req.firmware == "uefi" else profile.arches()
        arch = next((a for a in PREFERENCE if a in pool), None) or next(iter(profile.arches()), "amd64")
    firmware = req.firmware
    if firmware is None and (req.uefi_ipxe or req.http_boot):
        firmware = "uefi"
    bios_ok = profile.bios and arch in BIOS_ARCHES and (kind != "pxe" or arch in profile.bios_arches)
    if firmware is None:
        firmware = "bios" if bios_ok or not profile.uefi_arches else "uefi"
        if arch not in BIOS_ARCHES:
            firmware = "uefi"
    if firmware == "uefi" and profile.uefi_arches and arch not in profile.uefi_arches:
        has = ", ".join(a for a in PREFERENCE if a in profile.uefi_arches)
        raise UsageError(
            f"{req.media}: its UEFI boot files are for {has}, not {arch} "
            f"({'; '.join(profile.evidence)}); leave out --arch to boot what the media has"
        )
    if firmware == "uefi" and profile.bios and not profile.uefi_arches and kind != "pxe":
        raise UsageError(f"{req.media}: the media boots BIOS only ({'; '.join(profile.evidence)})")
    return replace(req, arch=arch, firmware=firmware), profile
