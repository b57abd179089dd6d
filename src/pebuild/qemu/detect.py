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
BOOTAA64.EFI, BOOTIA64.EFI. Every finding is kept as evidence for the verdict.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from pebuild.arches import BIOS_ARCHES, EFI_NAME
from pebuild.errors import UsageError
from pebuild.qemu.model import SmokeRequest

ISO_SECTOR = 2048
#: EFI boot file suffix (upper case) -> ADK arch
EFI_SUFFIX_ARCH = {v.upper(): k for k, v in EFI_NAME.items()}
#: WDS Boot\<dir> -> ADK arch (the names pxe/arches.py writes)
PXE_DIRS = {"x64": "amd64", "x86": "x86", "arm64": "arm64", "ia64": "ia64"}
ESP_GUID = bytes.fromhex("28732ac11ff8d211ba4b00a0c93ec93b")  # C12A7328-F81F-11D2-BA4B-00A0C93EC93B, on disk
FAT_TYPES = {0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E, 0xEF}
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
            _detect_iso(fh, profile)
        else:
            _detect_disk(fh, profile)
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


def _read(fh: BinaryIO, offset: int, size: int) -> bytes:
    fh.seek(offset)
    return fh.read(size)


def _detect_iso(fh: BinaryIO, profile: MediaProfile) -> None:
    brvd = _read(fh, 17 * ISO_SECTOR, ISO_SECTOR)
    if brvd[:6] != b"\x00CD001" or not brvd[7:39].startswith(b"EL TORITO SPECIFICATION"):
        profile.evidence.append("no El Torito boot record at sector 17")
        return
    (catalog_lba,) = struct.unpack_from("<I", brvd, 0x47)
    catalog = _read(fh, catalog_lba * ISO_SECTOR, ISO_SECTOR)
    for platform, bootable, rba, _count in _catalog_entries(catalog):
        if not bootable:
            continue
        if platform == 0x00:
            profile.bios = True
            profile.evidence.append(f"El Torito x86 BIOS entry (image at sector {rba})")
        elif platform == 0xEF:
            profile.evidence.append(f"El Torito EFI entry (image at sector {rba})")
            names = _fat_efi_boot_names(fh, rba * ISO_SECTOR)
            _add_efi_names(profile, names, f"in the EFI image at sector {rba}")


def _catalog_entries(catalog: bytes) -> list[tuple[int, bool, int, int]]:
    """(platform, bootable, load RBA, sector count) of the default and every section entry."""
    if len(catalog) < 64 or catalog[0] != 0x01 or catalog[30:32] != b"\x55\xaa":
        return []
    out = []
    platform = catalog[1]
    pos = 32
    default = catalog[pos : pos + 32]
    out.append((platform, default[0] == 0x88, *_rba_count(default)))
    pos += 32
    while pos + 32 <= len(catalog) and catalog[pos] in (0x90, 0x91):
        header = catalog[pos : pos + 32]
        platform = header[1]
        (entries,) = struct.unpack_from("<H", header, 2)
        pos += 32
        for _ in range(entries):
            entry = catalog[pos : pos + 32]
            pos += 32
            while pos + 32 <= len(catalog) and catalog[pos] == 0x44:  # extension entries
                pos += 32
            if len(entry) == 32:
                out.append((platform, entry[0] == 0x88, *_rba_count(entry)))
        if header[0] == 0x91:
            break
    return out


def _rba_count(entry: bytes) -> tuple[int, int]:
    (count,) = struct.unpack_from("<H", entry, 6)
    (rba,) = struct.unpack_from("<I", entry, 8)
    return rba, count


# ------------------------------------------------------------------------------------ disk


def _detect_disk(fh: BinaryIO, profile: MediaProfile) -> None:
    mbr = _read(fh, 0, 512)
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        profile.evidence.append("no MBR boot signature in sector 0")
        return
    if _is_fat_boot_sector(mbr):  # a superfloppy: the whole disk is one FAT volume
        profile.bios = True
        profile.evidence.append("FAT boot sector at sector 0 (superfloppy)")
        _add_efi_names(profile, _fat_efi_boot_names(fh, 0), "on the disk's FAT volume")
        return
    parts = [mbr[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    volumes: list[tuple[int, str]] = []
    has_code = any(mbr[:440])
    for i, p in enumerate(parts):
        ptype, (start,) = p[4], struct.unpack_from("<I", p, 8)
        if ptype == 0xEE:
            volumes += _gpt_volumes(fh)
        elif ptype in FAT_TYPES and start:
            volumes.append((start * 512, f"MBR partition {i + 1}"))
            if p[0] == 0x80 and has_code and ptype != 0xEF:
                profile.bios = True
                profile.evidence.append(f"MBR boot code + active FAT partition {i + 1}")
    seen: set[int] = set()
    for offset, where in volumes:
        if offset in seen:
            continue
        seen.add(offset)
        _add_efi_names(profile, _fat_efi_boot_names(fh, offset), f"on {where}")


def _gpt_volumes(fh: BinaryIO) -> list[tuple[int, str]]:
    header = _read(fh, 512, 92)
    if header[:8] != b"EFI PART":
        return []
    entries_lba, count, size = struct.unpack_from("<QII", header, 72)
    count = min(count, 256)
    table = _read(fh, entries_lba * 512, count * size)
    out = []
    for i in range(count):
        entry = table[i * size : i * size + 48]
        if len(entry) < 48 or entry[:16] == bytes(16):
            continue
        (first,) = struct.unpack_from("<Q", entry, 32)
        what = "ESP" if entry[:16] == ESP_GUID else "partition"
        out.append((first * 512, f"GPT {what} {i + 1}"))
    return out


def _add_efi_names(profile: MediaProfile, names: list[str], where: str) -> None:
    for name in names:
        arch = EFI_SUFFIX_ARCH.get(name.upper().removeprefix("BOOT").removesuffix(".EFI"))
        if arch is None:
            continue
        profile.evidence.append(f"EFI/BOOT/{name} {where}")
        if arch not in profile.uefi_arches:
            profile.uefi_arches.append(arch)


# ------------------------------------------------------------------------------------ FAT


def _is_fat_boot_sector(sector: bytes) -> bool:
    if sector[0] not in (0xEB, 0xE9) or sector[510:512] != b"\x55\xaa":
        return False
    (bytes_per_sector,) = struct.unpack_from("<H", sector, 11)
    return bytes_per_sector in (512, 1024, 2048, 4096) and sector[13] != 0 and sector[16] in (1, 2)


@dataclass(frozen=True)
class _Fat:
    """The fields of a FAT BPB (fatgen103 §3) a directory walk needs; offsets from the volume start."""

    base: int
    sector: int
    cluster: int
    fat_offset: int
    root_offset: int  # FAT12/16: the fixed root directory
    root_size: int
    root_cluster: int  # FAT32
    data_offset: int
    bits: int

    @classmethod
    def parse(cls, sector: bytes, base: int) -> _Fat | None:
        if not _is_fat_boot_sector(sector):
            return None
        bps, spc, reserved, fats, root_entries, total16, _media, fat16 = struct.unpack_from(
            "<HBHBHHBH", sector, 11
        )
        (total32,) = struct.unpack_from("<I", sector, 32)
        fat_sectors = fat16 or struct.unpack_from("<I", sector, 36)[0]
        total = total16 or total32
        root_sectors = (root_entries * 32 + bps - 1) // bps
        data_start = reserved + fats * fat_sectors + root_sectors
        clusters = (total - data_start) // spc if total > data_start else 0
        bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
        return cls(
            base=base,
            sector=bps,
            cluster=bps * spc,
            fat_offset=base + reserved * bps,
            root_offset=base + (reserved + fats * fat_sectors) * bps,
            root_size=root_sectors * bps,
            root_cluster=struct.unpack_from("<I", sector, 44)[0] if bits == 32 else 0,
            data_offset=base + data_start * bps,
            bits=bits,
        )

    def next_cluster(self, fh: BinaryIO, cluster: int) -> int | None:
        if self.bits == 12:
            raw = _read(fh, self.fat_offset + cluster * 3 // 2, 2)
            value = int.from_bytes(raw, "little")
            value = value >> 4 if cluster & 1 else value & 0xFFF
            end = 0xFF8
        elif self.bits == 16:
            value, end = int.from_bytes(_read(fh, self.fat_offset + cluster * 2, 2), "little"), 0xFFF8
        else:
            raw = _read(fh, self.fat_offset + cluster * 4, 4)
            value, end = int.from_bytes(raw, "little") & 0x0FFFFFFF, 0x0FFFFFF8
        return None if value < 2 or value >= end else value

    def directory(self, fh: BinaryIO, cluster: int | None) -> bytes:
        """A directory's bytes: the fixed FAT12/16 root (cluster None), else its cluster chain."""
        if cluster is None:
            return _read(fh, self.root_offset, self.root_size)
        out, seen = bytearray(), set()
        current: int | None = cluster
        while current is not None and current not in seen and len(seen) < 4096:
            seen.add(current)
            out += _read(fh, self.data_offset + (current - 2) * self.cluster, self.cluster)
            current = self.next_cluster(fh, current)
        return bytes(out)


def _dir_entries(data: bytes) -> list[tuple[str, bool, int]]:
    """(8.3 name 'BOOTX64.EFI', is_dir, first cluster) of the live short entries of a directory."""
    out = []
    for pos in range(0, len(data) - 31, 32):
        entry = data[pos : pos + 32]
        if entry[0] == 0x00:
            break
        attr = entry[11]
        if entry[0] == 0xE5 or attr == 0x0F or attr & 0x08:  # deleted, long-name part, volume label
            continue
        base = entry[:8].decode("ascii", "replace").rstrip()
        ext = entry[8:11].decode("ascii", "replace").rstrip()
        cluster = struct.unpack_from("<H", entry, 26)[0] | struct.unpack_from("<H", entry, 20)[0] << 16
        out.append((f"{base}.{ext}" if ext else base, bool(attr & 0x10), cluster))
    return out


def _fat_efi_boot_names(fh: BinaryIO, base: int) -> list[str]:
    """File names in EFI/BOOT of the FAT volume starting at `base` (empty when there is none)."""
    fat = _Fat.parse(_read(fh, base, 512), base)
    if fat is None:
        return []
    listing = fat.directory(fh, fat.root_cluster if fat.bits == 32 else None)
    for part in ("EFI", "BOOT"):
        found = [c for name, is_dir, c in _dir_entries(listing) if is_dir and name.upper() == part]
        if not found:
            return []
        listing = fat.directory(fh, found[0] or None)
    return sorted(name for name, is_dir, _ in _dir_entries(listing) if not is_dir)


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
