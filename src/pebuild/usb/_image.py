"""The USB disk image: a FAT32 partition holding the media tree, bootable by BIOS and UEFI.

Layout: partition table at LBA 0 (MBR) or 0-33 (GPT, backup in the last 33
sectors), the FAT32 partition from LBA 2048 (1 MiB, aligned for flash erase
blocks), then the optional NTFS/exFAT data partition (pebuild.usb._data).
A .wim of 4 GiB or more goes in as .swm parts (pebuild.usb._split). The volume is written by pebuild.fat straight into the output file:
metadata first, then each file copied to its cluster offset, so memory use does
not grow with the size of boot.wim.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.arches import ARCHES, BIOS_ARCHES
from pebuild.arches import efi_boot_name as _efi_file_name
from pebuild.clock import build_time, stable_guid
from pebuild.errors import FormatError, SourceError, UsageError
from pebuild.fat import FatFile, FatOptions, FatPlan, plan_fat
from pebuild.fat._image import VolumeFullError
from pebuild.fsutil import atomic_output
from pebuild.outputs import MARKER as TREE_MARKER
from pebuild.outputs import Output, OutputOptions, Transaction, plan_outputs
from pebuild.progress import Progress, ProgressEvent
from pebuild.sizes import parse_size_or_auto
from pebuild.usb._bootcode import MBR_CODE, VBR_FAT32
from pebuild.usb._data import MBR_TYPE_DATA, check_data_request, write_data_partition
from pebuild.usb._split import split_large_wims
from pebuild.usb._table import (
    BASIC_DATA_TYPE,
    ESP_TYPE,
    GPT_ARRAY_SECTORS,
    MBR_TYPE_FAT32_LBA,
    MBR_TYPE_PROTECTIVE,
    SECTOR,
    GptPartition,
    MbrEntry,
    gpt_structures,
    mbr_sector,
)

MIB = 1 << 20
PARTITION_START = 2048  # LBA: 1 MiB
MIN_PARTITION = 36 * MIB  # FAT32 needs >= 65525 clusters: about 33.5 MiB with 512-byte clusters
TABLES = ("mbr", "gpt")
#: layouts pebuild no longer writes, with the one-line reason `--table` gives (docs/usb.md, Layouts)
REMOVED_TABLES = {
    "hybrid": (
        "--table hybrid is not supported: Windows' boot manager refuses under UEFI a disk whose MBR "
        "lists partitions beside a GPT (BlInitializeLibrary 0xc00000bb; UEFI 2.10 §5.2.3 allows only the "
        "0xEE entry); --table mbr boots both BIOS and UEFI"
    )
}
#: UEFI removable-media boot file name per arch (UEFI spec §3.5.1.1)
EFI_BOOT_NAMES = {arch: _efi_file_name(arch).upper() for arch in ARCHES}


@dataclass(frozen=True)
class UsbRequest:
    """What `pebuild usb` and `pebuild make --usb` ask for.

    size: "auto" (the tree plus headroom) or a byte count (rounded down to whole MiB).
    boot_sector: a FAT32 boot sector written by `bootsect /nt60` (512 bytes, or the
    13-sector reserved-area dump), used instead of pebuild's own VBR when given.
    """

    media_dir: Path
    output: Path
    size: int | str = "auto"
    table: str = "mbr"
    arch: str = "amd64"
    label: str = "WINPE"
    timestamp: int | None = None
    boot_sector: Path | None = None
    headroom: int = 64 * MIB  # free space "auto" leaves for users' own files
    split_size: int = 4000 * MIB  # .swm part size for a .wim of 4 GiB or more
    recompress: bool = False  # export a solid (LZMS/ESD) .wim to LZX so it can be split
    data_size: int | None = None  # bytes of the NTFS/exFAT data partition after the boot one
    data_fs: str = "exfat"
    data_label: str = "DATA"
    outputs: OutputOptions = field(default_factory=OutputOptions)  # --force, --no-wait (pebuild.outputs)


@dataclass(frozen=True)
class UsbResult:
    path: Path
    size: int
    table: str
    partition_offset: int
    partition_size: int
    cluster_size: int
    files: int
    data_bytes: int
    uefi_boot_file: str
    bios_boot: bool
    boot_sector: str  # "pebuild" (our VBR) or the kit file used
    notes: list[str] = field(default_factory=list)
    split: list[str] = field(default_factory=list)  # the .swm parts written for big .wim files
    data_partition: dict[str, object] | None = None  # offset, size, fs, label

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "size": self.size,
            "table": self.table,
            "partition_offset": self.partition_offset,
            "partition_size": self.partition_size,
            "fat_type": 32,
            "cluster_size": self.cluster_size,
            "files": self.files,
            "data_bytes": self.data_bytes,
            "uefi_boot_file": self.uefi_boot_file,
            "bios_boot": self.bios_boot,
            "boot_sector": self.boot_sector,
            "notes": self.notes,
            "split": self.split,
            "data_partition": self.data_partition,
        }


def parse_size(text: str | int) -> int | str:
    """'auto', bytes, or a number with K/M/G/T (binary: 8G = 8 GiB, as dd and truncate read them)."""
    return parse_size_or_auto(text)


def _image_path(rel: str, efi_boot_name: str) -> str:
    """Store the firmware's paths in their proper spelling: EFI/BOOT/BOOTX64.EFI (FAT ignores case)."""
    parts = rel.split("/")
    if parts[0].casefold() == "efi":
        parts[0] = "EFI"
        if len(parts) > 1 and parts[1].casefold() == "boot":
            parts[1] = "BOOT"
            if len(parts) == 3 and parts[2].casefold() == efi_boot_name.casefold():
                parts[2] = efi_boot_name
    return "/".join(parts)


def collect_media(media_dir: Path, efi_boot_name: str) -> dict[str, FatFile]:
    """The media tree as {image path: FatFile}, empty directories as 'dir/'; sorted, no symlinked dirs."""
    if not media_dir.is_dir():
        raise SourceError("media directory does not exist or is not a directory", path=media_dir)
    files: dict[str, FatFile] = {}

    def walk(directory: Path, prefix: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(f"cannot read media directory: {exc.strerror}", path=directory) from None
        if prefix and not entries:
            files[_image_path(prefix.rstrip("/"), efi_boot_name) + "/"] = FatFile(None)
        for entry in entries:
            path = Path(entry.path)
            if not prefix and entry.name == TREE_MARKER:
                continue  # the ownership marker of a tree pebuild published is not part of the media
            if entry.is_dir(follow_symlinks=False):
                walk(path, prefix + entry.name + "/")
            elif entry.is_symlink() and entry.is_dir():
                raise SourceError("symlinked directories are not supported in the media tree", path=path)
            elif entry.is_file():
                files[_image_path(prefix + entry.name, efi_boot_name)] = FatFile(
                    path, size=entry.stat().st_size
                )
            else:
                raise SourceError(
                    "not a regular file (special file or broken link) in the media tree", path=path
                )

    walk(media_dir, "")
    return files


def _check_inputs(req: UsbRequest, files: dict[str, FatFile]) -> tuple[str, bool]:
    efi_boot_name = EFI_BOOT_NAMES[req.arch]
    efi_path = f"EFI/BOOT/{efi_boot_name}"
    if efi_path not in files:
        raise SourceError(
            f"no UEFI boot file efi/boot/{efi_boot_name.lower()} for {req.arch} in the media tree",
            path=req.media_dir,
        )
    has_bootmgr = any(rel.casefold() == "bootmgr" for rel in files)
    return efi_path, has_bootmgr and req.arch in BIOS_ARCHES


def _boot_sector(req: UsbRequest) -> tuple[bytes, str]:
    if req.boot_sector is None:
        return VBR_FAT32, "pebuild"
    try:
        data = req.boot_sector.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read boot sector file: {exc.strerror}", path=req.boot_sector) from None
    if (
        len(data) < SECTOR
        or len(data) % SECTOR
        or data[510:512] != b"\x55\xaa"
        or data[0] not in (0xEB, 0xE9)
    ):
        raise FormatError(
            "not a FAT32 boot sector file (want 512 bytes or whole sectors, a jump, 55 AA)",
            path=req.boot_sector,
        )
    if data[82:90] != b"FAT32   ":
        raise FormatError(
            "boot sector file is not a FAT32 boot sector (no 'FAT32' type at offset 82)", path=req.boot_sector
        )
    return data, str(req.boot_sector)


def _overhead(table: str, data_size: int | None = None) -> int:
    """Bytes outside the boot partition: 1 MiB before it, the data partition, 1 MiB for the GPT backup."""
    return MIB + (data_size or 0) + (MIB if table == "gpt" else 0)


def _plan(files: dict[str, FatFile], req: UsbRequest, stamp: int, boot_code: bytes) -> tuple[FatPlan, int]:
    """Plan the FAT32 volume; for size=auto grow the partition until the tree fits."""

    def options(partition: int) -> FatOptions:
        volume_id = int.from_bytes(
            stable_guid("pebuild-usb-volume", req.label, partition, stamp).bytes[:4], "little"
        )
        return FatOptions(
            size=partition,
            fat_type=32,
            label=req.label,
            oem="MSDOS5.0",
            volume_id=volume_id,
            timestamp=stamp,
            hidden_sectors=PARTITION_START,
            boot_code=boot_code,
        )

    if req.size != "auto":
        assert isinstance(req.size, int)
        total = req.size // MIB * MIB
        partition = total - _overhead(req.table, req.data_size)
        if partition < MIN_PARTITION:
            raise UsageError(
                f"image size {req.size} is too small: FAT32 needs at least "
                f"{(MIN_PARTITION + _overhead(req.table, req.data_size)) // MIB} MiB (or use --size auto)"
            )
        try:
            return plan_fat(files, options(partition)), total
        except VolumeFullError as exc:
            raise UsageError(
                f"image size {req.size} is too small for the media tree ({exc}); use --size auto"
            ) from None
    content = sum(((v.size or 0) + 4095) & ~4095 if not v.is_dir else 4096 for v in files.values())
    partition = max(MIN_PARTITION, (content + content // 256 + req.headroom + MIB - 1) // MIB * MIB)
    while True:
        try:
            return plan_fat(files, options(partition)), partition + _overhead(req.table, req.data_size)
        except VolumeFullError:
            partition = (partition + partition // 4 + MIB - 1) // MIB * MIB


def _write(
    req: UsbRequest,
    files: dict[str, FatFile],
    stamp: int,
    boot_code: bytes,
    into: Path,
    scratch: Path,
    progress: Progress | None,
) -> tuple[FatPlan, int, dict[str, object] | None]:
    """Plan the volume and write tables, FAT32 volume and data partition to `into`."""
    plan, total = _plan(files, req, stamp, boot_code)
    total_sectors = total // SECTOR
    part_sectors = plan.size // SECTOR
    seed = (req.label, total, req.table, stamp)
    signature = int.from_bytes(stable_guid("pebuild-usb-mbr", *seed).bytes[:4], "little")
    data_start = -(-(PARTITION_START + part_sectors) // PARTITION_START) * PARTITION_START
    data_sectors = (req.data_size or 0) // SECTOR
    entries = [MbrEntry(True, MBR_TYPE_FAT32_LBA, PARTITION_START, part_sectors)]
    if data_sectors:
        entries.append(MbrEntry(False, MBR_TYPE_DATA, data_start, data_sectors))
    if req.table == "gpt":
        entries = [MbrEntry(False, MBR_TYPE_PROTECTIVE, 1, total_sectors - 1)]  # UEFI 2.10 §5.2.3
    with atomic_output(into) as fh:
        fh.truncate(total)
        fh.write(mbr_sector(MBR_CODE, signature, entries))
        if req.table == "gpt":
            parts = [
                GptPartition(
                    ESP_TYPE,
                    stable_guid("pebuild-usb-partition", *seed),
                    PARTITION_START,
                    PARTITION_START + part_sectors - 1,
                    req.label,
                )
            ]
            if data_sectors:
                parts.append(
                    GptPartition(
                        BASIC_DATA_TYPE,
                        stable_guid("pebuild-usb-data", *seed),
                        data_start,
                        data_start + data_sectors - 1,
                        req.data_label,
                    )
                )
            primary, backup = gpt_structures(stable_guid("pebuild-usb-disk", *seed), total_sectors, parts)
            fh.seek(SECTOR)
            fh.write(primary)
            fh.seek((total_sectors - 1 - GPT_ARRAY_SECTORS) * SECTOR)
            fh.write(backup)

        def relay(event: ProgressEvent) -> None:
            if progress is not None:
                progress(ProgressEvent("usb", event.done, event.total, event.message))

        plan.write(fh, PARTITION_START * SECTOR, relay)
        data = None
        if data_sectors:
            fh.flush()
            serial = int.from_bytes(stable_guid("pebuild-usb-data-serial", *seed).bytes[:8], "little")
            offset = data_start * SECTOR
            write_data_partition(
                fh.fileno(), offset, data_sectors * SECTOR, req.data_fs, req.data_label, serial, scratch
            )
            data = {
                "offset": offset,
                "size": data_sectors * SECTOR,
                "fs": req.data_fs,
                "label": req.data_label,
            }
    return plan, total, data


def write_usb_image(
    req: UsbRequest, progress: Progress | None = None, *, into: Path | None = None
) -> UsbResult:
    """Write the raw disk image (sparse where free); nothing appears at `req.output` unless complete.

    The path is checked and locked first (pebuild.outputs). `into`: write the
    image there instead and leave publishing to the caller (`pebuild make`).
    """
    if req.table in REMOVED_TABLES:
        raise UsageError(REMOVED_TABLES[req.table])
    if req.table not in TABLES:
        raise UsageError(f"partition table must be one of {', '.join(TABLES)}, got {req.table!r}")
    if req.arch not in EFI_BOOT_NAMES:
        raise UsageError(f"unknown arch {req.arch!r} (expected one of {', '.join(EFI_BOOT_NAMES)})")
    size = parse_size(req.size) if isinstance(req.size, str) else req.size
    req = dataclasses.replace(req, size=size)
    if req.output.resolve().is_relative_to(req.media_dir.resolve()):
        raise UsageError("the image cannot be written inside the media tree it holds", path=req.output)
    if into is None:
        inputs = [p for p in (req.media_dir, req.boot_sector) if p is not None]
        plan = plan_outputs([Output("usb", req.output)], inputs=inputs)
        with Transaction(plan, req.outputs) as tx:
            result = write_usb_image(req, progress, into=tx.path("usb"))
            tx.publish()
        return result
    check_data_request(req.data_size, req.data_fs)
    files = collect_media(req.media_dir, EFI_BOOT_NAMES[req.arch])
    efi_path, bios_ok = _check_inputs(req, files)
    boot_code, boot_sector_name = _boot_sector(req)
    stamp = build_time(req.timestamp)
    with tempfile.TemporaryDirectory(prefix=".pebuild-usb-", dir=into.parent) as scratch:
        files, split_notes = split_large_wims(
            files, Path(scratch), req.split_size, recompress=req.recompress, progress=progress
        )
        plan, total, data = _write(req, files, stamp, boot_code, into, Path(scratch), progress)
    notes = list(split_notes)
    if not bios_ok:
        notes.append(
            "BIOS boot: no bootmgr in the media root (or a non-PC arch); the image boots by UEFI only"
        )
    if req.table == "gpt":
        notes.append("GPT without an MBR partition: BIOS firmware cannot boot it; use --table mbr")
    return UsbResult(
        path=req.output,
        size=total,
        table=req.table,
        partition_offset=PARTITION_START * SECTOR,
        partition_size=plan.size,
        cluster_size=plan.geometry.cluster_bytes,
        files=sum(1 for v in files.values() if not v.is_dir),
        data_bytes=plan.data_bytes,
        uefi_boot_file=efi_path,
        bios_boot=bios_ok and req.table != "gpt",
        boot_sector=boot_sector_name,
        notes=notes,
        split=sorted(rel for rel in files if rel.casefold().endswith(".swm")),
        data_partition=data,
    )
