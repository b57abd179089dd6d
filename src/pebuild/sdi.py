"""boot.sdi: the System Deployment Image that backs WinPE's RAM disk (formats.md §3; D0–D2).

Layout written (identical to Microsoft's boot.sdi in its first 0x2000 bytes at the
default size, formats.md §3.4): a 512-byte header (`$SDI0001`, page alignment 2 =
8 KiB, byte checksum at 0x1F8), a table of contents at 0x400 with a `PART` blob
(an NTFS volume labelled "Boot", MBR type 7) at 0x2000 and an empty `WIM`
placeholder at the end of the file, 1 KiB of zero padding before that end.

The NTFS volume is made by `mkntfs` from ntfs-3g with Microsoft's geometry
(512-byte sectors and clusters, 2 hidden sectors, 16 heads, 2 sectors per track).
`mkntfs -T` pins its clock to 1970-01-01, which also pins its pseudo-random
volume serial; pebuild then writes its own serial (from `stable_guid` and the
build time) into both boot sectors, so the output is reproducible.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.clock import build_time, stable_guid
from pebuild.errors import FormatError, ToolError, UsageError
from pebuild.sizes import parse_size as _parse_size

SDI_SIGNATURE = b"$SDI0001"
HEADER_SIZE = 512
TOC_OFFSET = 0x400
TOC_ENTRY_SIZE = 64
PART_OFFSET = 0x2000
PAGE_ALIGNMENT = 2  # in 4 KiB pages (Microsoft: 2 = 8 KiB)
TAIL_PADDING = 0x400
DEFAULT_SIZE = 3_170_304  # Microsoft's boot.sdi
MIN_SIZE = 1 << 20
NTFS_MBR_TYPE = 7
_TOC = struct.Struct("<8sQQQQ24s")  # type, attributes, offset, size, base address, reserved


@dataclass(frozen=True)
class SdiBlob:
    type: str
    attributes: int
    offset: int
    size: int
    base_address: int


@dataclass(frozen=True)
class NtfsBootSector:
    """The facts of the PART blob's NTFS boot sector (for `sdi info`)."""

    bytes_per_sector: int
    sectors_per_cluster: int
    hidden_sectors: int
    total_sectors: int
    mft_lcn: int
    mft_mirror_lcn: int
    serial: int


@dataclass(frozen=True)
class SdiInfo:
    size: int
    mdb_type: int
    page_alignment: int
    checksum: int
    checksum_ok: bool
    blobs: list[SdiBlob] = field(default_factory=list)
    ntfs: NtfsBootSector | None = None


def header_checksum(header: bytes) -> int:
    """Byte that makes bytes 0..511 sum to 0 mod 256 (syslinux `has_valid_header`, D1)."""
    data = bytearray(header[:HEADER_SIZE])
    data[0x1F8] = 0
    return (-sum(data)) & 0xFF


def build_header(total_size: int, part_size: int) -> bytes:
    """The first 0x2000 bytes: header + table of contents + zero padding up to the PART blob."""
    head = bytearray(PART_OFFSET)
    head[0:8] = SDI_SIGNATURE
    struct.pack_into("<Q", head, 0x70, PAGE_ALIGNMENT)
    head[0x1F8] = header_checksum(bytes(head))
    entries = [
        _TOC.pack(b"PART", 0, PART_OFFSET, part_size, NTFS_MBR_TYPE, bytes(24)),
        _TOC.pack(b"WIM", 0, total_size, 0, 0, bytes(24)),
    ]
    for i, entry in enumerate(entries):
        head[TOC_OFFSET + i * TOC_ENTRY_SIZE : TOC_OFFSET + (i + 1) * TOC_ENTRY_SIZE] = entry
    return bytes(head)


def parse_size(text: str) -> int:
    """'3M', '4096K', '3170304' -> bytes (binary units)."""
    return _parse_size(text, what="SDI size")


def create_sdi(size: int = DEFAULT_SIZE, timestamp: int | None = None) -> bytes:
    """A boot.sdi of `size` bytes (rounded up to 8 KiB) holding an empty NTFS volume."""
    if size < MIN_SIZE:
        raise UsageError(f"SDI size must be at least {MIN_SIZE} bytes, got {size}")
    align = PAGE_ALIGNMENT * 4096
    total = -(-size // align) * align
    part_size = total - PART_OFFSET - TAIL_PADDING
    ntfs = _make_ntfs(part_size)
    serial = int.from_bytes(stable_guid("pebuild-sdi", total, build_time(timestamp)).bytes[:8], "little")
    ntfs = _set_serial(ntfs, serial)
    return build_header(total, part_size) + ntfs + bytes(TAIL_PADDING)


def _make_ntfs(part_size: int) -> bytes:
    mkntfs = shutil.which("mkntfs") or shutil.which("mkntfs", path="/usr/sbin:/sbin")
    if mkntfs is None:
        raise ToolError(
            "mkntfs not found: install the Debian package ntfs-3g (it makes boot.sdi's NTFS volume)"
        )
    with tempfile.TemporaryDirectory(prefix="pebuild-sdi-") as tmp:
        image = Path(tmp) / "part.ntfs"
        with open(image, "wb") as fh:
            fh.truncate(part_size)
        command = [mkntfs, "-T", "-F", "-Q", "-q", "-s", "512", "-c", "512", "-L", "Boot"]
        command += ["-p", "2", "-H", "16", "-S", "2", str(image)]
        proc = subprocess.run(
            command, capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
        )
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise ToolError(f"mkntfs failed: {message[-1] if message else proc.returncode}")
        data = image.read_bytes()
    if len(data) != part_size or data[3:11] != b"NTFS    ":
        raise ToolError("mkntfs did not produce an NTFS volume of the requested size")
    return data


def _set_serial(ntfs: bytes, serial: int) -> bytes:
    """Write the volume serial (boot sector +0x48) into the boot sector and its backup."""
    data = bytearray(ntfs)
    total_sectors = struct.unpack_from("<Q", data, 0x28)[0]
    for sector in (0, total_sectors):
        struct.pack_into("<Q", data, sector * 512 + 0x48, serial)
    return bytes(data)


def parse_sdi(data: bytes) -> SdiInfo:
    """Decode an SDI header, its table of contents and the PART blob's NTFS boot sector."""
    if len(data) < TOC_OFFSET + TOC_ENTRY_SIZE or data[:8] != SDI_SIGNATURE:
        raise FormatError("not an SDI file (no '$SDI0001' signature)")
    mdb_type = struct.unpack_from("<I", data, 8)[0]
    alignment = struct.unpack_from("<Q", data, 0x70)[0]
    stored = data[0x1F8]
    blobs: list[SdiBlob] = []
    for i in range(16):
        at = TOC_OFFSET + i * TOC_ENTRY_SIZE
        if at + TOC_ENTRY_SIZE > len(data):
            break
        kind, attributes, offset, size, base, _res = _TOC.unpack_from(data, at)
        if not any(data[at : at + TOC_ENTRY_SIZE]):
            break
        name = kind.rstrip(b"\0").decode("ascii", "replace")
        if offset + size > len(data) and size:
            raise FormatError(f"SDI blob {name} at 0x{offset:x} (+0x{size:x}) runs past the end of the file")
        blobs.append(SdiBlob(name, attributes, offset, size, base))
    ntfs = None
    for blob in blobs:
        if (
            blob.type == "PART"
            and blob.size >= 512
            and data[blob.offset + 3 : blob.offset + 11] == b"NTFS    "
        ):
            ntfs = _ntfs_boot_sector(data[blob.offset : blob.offset + 512])
    return SdiInfo(len(data), mdb_type, alignment, stored, header_checksum(data) == stored, blobs, ntfs)


def _ntfs_boot_sector(sector: bytes) -> NtfsBootSector:
    bps, spc = struct.unpack_from("<HB", sector, 0x0B)
    hidden = struct.unpack_from("<I", sector, 0x1C)[0]
    total, mft, mirror = struct.unpack_from("<QQQ", sector, 0x28)
    serial = struct.unpack_from("<Q", sector, 0x48)[0]
    return NtfsBootSector(bps, spc, hidden, total, mft, mirror, serial)


def write_sdi(path: str | Path, size: int = DEFAULT_SIZE, timestamp: int | None = None) -> None:
    from pebuild.fsutil import write_bytes_atomic

    write_bytes_atomic(path, create_sdi(size, timestamp))
