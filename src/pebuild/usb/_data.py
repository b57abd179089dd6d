"""The optional data partition: NTFS (mkntfs, ntfs-3g) or exFAT (mkfs.exfat, exfatprogs) after the boot one.

Why a second partition: the technician captures `myimage.wim` to the stick it booted
from, and FAT32 cannot hold a file of 4 GiB. The boot partition stays FAT32 (UEFI
firmware reads FAT only). Windows mounts every partition of a removable disk since
Windows 10 1703.

The volume is made in a scratch file beside the image (the formatters want a file
or device of their own) and copied into place skipping holes, so the image stays
sparse. Reproducible: mkntfs -T pins its clock and, with it, the seed of its
random serial and GUIDs; mkfs.exfat takes its serial from the clock, so the
serial is replaced with a stable one and the boot-region checksum recomputed
(exFAT specification §3.1.5, §3.4).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO

from pebuild.errors import ToolError, UsageError

DATA_FS = ("ntfs", "exfat")
MBR_TYPE_DATA = 0x07  # NTFS and exFAT share the "IFS" type
MIB = 1 << 20
MIN_DATA = {"ntfs": 2 * MIB, "exfat": MIB}
TOOLS = {"ntfs": ("mkntfs", "ntfs-3g"), "exfat": ("mkfs.exfat", "exfatprogs")}


def check_data_request(size: int | None, fs: str) -> None:
    if size is None:
        return
    if fs not in DATA_FS:
        raise UsageError(f"data partition file system must be one of {', '.join(DATA_FS)}, got {fs!r}")
    if size < MIN_DATA[fs] or size % MIB:
        raise UsageError(f"data partition size must be whole MiB, at least {MIN_DATA[fs] // MIB} MiB")


def _tool(fs: str) -> str:
    name, package = TOOLS[fs]
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise ToolError(f"{name} not found: the {fs} data partition needs it (Debian package {package})")
    return found


def _exfat_checksum(region: bytes) -> int:
    """Boot checksum over sectors 0-10, skipping VolumeFlags (106-107) and PercentInUse (112)."""
    checksum = 0
    for i, byte in enumerate(region[: 11 * 512]):
        if i in (106, 107, 112):
            continue
        checksum = (((checksum >> 1) | ((checksum & 1) << 31)) + byte) & 0xFFFFFFFF
    return checksum


def _pin_exfat_serial(fh: BinaryIO, serial: int) -> None:
    """Set VolumeSerialNumber (offset 100) in the main and backup boot regions; fix both checksums."""
    for base in (0, 12 * 512):
        fh.seek(base)
        region = bytearray(fh.read(12 * 512))
        struct.pack_into("<I", region, 100, serial)
        region[11 * 512 :] = struct.pack("<I", _exfat_checksum(region)) * 128
        fh.seek(base)
        fh.write(region)


def _pin_ntfs_serial(fh: BinaryIO, serial: int, size: int) -> None:
    """mkntfs -T seeds its random serial with 0: every stick would share one. Set a stable per-image
    serial (boot sector offset 0x48, 8 bytes; no checksum) in the boot sector and its backup copy,
    the partition's last sector."""
    fh.seek(0)
    boot = fh.read(512)
    for where in (0, size - 512):
        fh.seek(where)
        if fh.read(512) == boot:
            fh.seek(where + 0x48)
            fh.write(struct.pack("<Q", serial))


def format_volume(path: Path, size: int, fs: str, label: str, start_sector: int, serial: int) -> None:
    """Make the file system in a fresh file `path` of `size` bytes."""
    tool = _tool(fs)
    with open(path, "wb") as fh:
        fh.truncate(size)
    if fs == "ntfs":
        cmd = [tool, "-F", "-Q", "-q", "-T", "-L", label, "-s", "512", "-p", str(start_sector)]
        cmd += ["-H", "255", "-S", "63", str(path)]
    else:
        cmd = [tool, "-L", label[:11], str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
    if proc.returncode:
        text = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolError(f"{Path(tool).name} failed: {text[-1] if text else f'exit {proc.returncode}'}")
    with open(path, "r+b") as fh:
        if fs == "exfat":
            _pin_exfat_serial(fh, serial & 0xFFFFFFFF)
        else:
            _pin_ntfs_serial(fh, serial, size)


def copy_sparse(src: Path, dst_fd: int, offset: int) -> None:
    """Copy `src` to `dst_fd` at `offset`, data extents only (SEEK_DATA/SEEK_HOLE): holes stay holes."""
    with open(src, "rb") as fh:
        fd, end, pos = fh.fileno(), os.fstat(fh.fileno()).st_size, 0
        while pos < end:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            while start < stop:
                n = os.copy_file_range(fd, dst_fd, stop - start, start, offset + start)
                if n <= 0:
                    raise OSError("copy_file_range copied nothing")
                start += n
            pos = stop


def write_data_partition(
    image_fd: int, offset: int, size: int, fs: str, label: str, serial: int, scratch_dir: Path
) -> None:
    """Format the data volume and place it at byte `offset` of the image (serial: 64 bits for NTFS,
    the low 32 for exFAT)."""
    with tempfile.TemporaryDirectory(prefix=".pebuild-data-", dir=scratch_dir) as tmp:
        volume = Path(tmp) / f"data.{fs}"
        format_volume(volume, size, fs, label, offset // 512, serial)
        copy_sparse(volume, image_fd, offset)
