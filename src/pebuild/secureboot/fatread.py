"""A small read-only FAT12/16/32 reader: enough to list and read the files of an efisys image or ESP.

`pebuild check` must look inside the El Torito UEFI image (efisys.bin, a FAT12
floppy) and a USB image's FAT32 partition without mtools, root or loop
devices. Structures and cluster arithmetic from fatgen103 (Microsoft FAT
specification); long names from its "FAT Long Directory Entries" section.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from pebuild.errors import FormatError

SECTOR = 512


@dataclass(frozen=True)
class _Bpb:
    bytes_per_sector: int
    sectors_per_cluster: int
    reserved: int
    fats: int
    root_entries: int
    fat_size: int
    total: int
    root_cluster: int
    fat_type: int

    @property
    def root_dir_sectors(self) -> int:
        return (self.root_entries * 32 + self.bytes_per_sector - 1) // self.bytes_per_sector

    @property
    def first_data_sector(self) -> int:
        return self.reserved + self.fats * self.fat_size + self.root_dir_sectors

    @property
    def cluster_size(self) -> int:
        return self.bytes_per_sector * self.sectors_per_cluster


class FatVolume:
    """Files of one FAT volume at `offset` in `fh` (a file or BytesIO); paths are '/'-joined."""

    def __init__(self, fh: BinaryIO, offset: int = 0, *, name: str = "<fat>") -> None:
        self.fh, self.offset, self.name = fh, offset, name
        self.bpb = self._read_bpb()
        self._fat = self._read(
            self.bpb.reserved * self.bpb.bytes_per_sector, self.bpb.fat_size * self.bpb.bytes_per_sector
        )

    def _read(self, pos: int, size: int) -> bytes:
        self.fh.seek(self.offset + pos)
        data = self.fh.read(size)
        if len(data) != size:
            raise FormatError(f"FAT volume truncated at byte {pos + size}", path=self.name)
        return data

    def _read_bpb(self) -> _Bpb:
        from pebuild.fat import fat_type

        sector = self._read(0, SECTOR)
        kind = fat_type(sector)
        if kind is None:
            raise FormatError("not a FAT file system", path=self.name)
        bps, spc, rsvd, nfats, root_ents, tot16, _media, fat16 = struct.unpack_from("<HBHBHHBH", sector, 11)
        tot32, fat32 = struct.unpack_from("<II", sector, 32)
        root = struct.unpack_from("<I", sector, 44)[0] if kind == 32 else 0
        return _Bpb(bps, spc, rsvd, nfats, root_ents, fat16 or fat32, tot16 or tot32, root, kind)

    def _next(self, cluster: int) -> int:
        kind = self.bpb.fat_type
        if kind == 12:
            pair = struct.unpack_from("<H", self._fat, cluster + cluster // 2)[0]
            value = pair >> 4 if cluster & 1 else pair & 0xFFF
            return value if value < 0xFF8 else -1
        if kind == 16:
            value = struct.unpack_from("<H", self._fat, cluster * 2)[0]
            return value if value < 0xFFF8 else -1
        value = struct.unpack_from("<I", self._fat, cluster * 4)[0] & 0x0FFFFFFF
        return value if value < 0x0FFFFFF8 else -1

    def _chain(self, first: int) -> list[int]:
        out, cluster = [], first
        limit = self.bpb.total // max(self.bpb.sectors_per_cluster, 1) + 2
        while cluster >= 2 and len(out) <= limit:
            out.append(cluster)
            cluster = self._next(cluster)
        return out

    def _cluster_data(self, clusters: list[int]) -> bytes:
        b = self.bpb
        return b"".join(
            self._read(
                ((c - 2) * b.sectors_per_cluster + b.first_data_sector) * b.bytes_per_sector, b.cluster_size
            )
            for c in clusters
        )

    def _dir_bytes(self, cluster: int | None) -> bytes:
        b = self.bpb
        if cluster is None:  # FAT12/16 fixed root directory
            start = (b.reserved + b.fats * b.fat_size) * b.bytes_per_sector
            return self._read(start, b.root_entries * 32)
        return self._cluster_data(self._chain(cluster))

    def listdir(self, cluster: int | None) -> list[tuple[str, bool, int, int]]:
        """(name, is_dir, first cluster, size) of a directory; None = the root directory."""
        data = self._dir_bytes(cluster if cluster is not None else (self.bpb.root_cluster or None))
        out, lfn = [], ""
        for pos in range(0, len(data) - 31, 32):
            entry = data[pos : pos + 32]
            if entry[0] == 0:
                break
            if entry[0] == 0xE5:
                lfn = ""
                continue
            attr = entry[11]
            if attr == 0x0F:
                part = (entry[1:11] + entry[14:26] + entry[28:32]).decode("utf-16-le", "replace")
                text = part.split("\0")[0]
                lfn = text if entry[0] & 0x40 else text + lfn  # the last piece comes first on disk
                continue
            if attr & 0x08:  # volume label
                lfn = ""
                continue
            base, ext = entry[:8].decode("latin-1").rstrip(), entry[8:11].decode("latin-1").rstrip()
            short = f"{base}.{ext}" if ext else base
            name = lfn or short
            lfn = ""
            if name in (".", ".."):
                continue
            hi, lo = struct.unpack_from("<H", entry, 20)[0], struct.unpack_from("<H", entry, 26)[0]
            first = (hi << 16 | lo) if self.bpb.fat_type == 32 else lo
            out.append((name, bool(attr & 0x10), first, struct.unpack_from("<I", entry, 28)[0]))
        return out

    def files(self) -> dict[str, tuple[int, int]]:
        """Every file: path -> (first cluster, size), walking from the root (bounded depth)."""
        out: dict[str, tuple[int, int]] = {}
        stack: list[tuple[str, int | None, int]] = [("", None, 0)]
        while stack:
            prefix, cluster, depth = stack.pop()
            for name, is_dir, first, size in self.listdir(cluster):
                path = f"{prefix}{name}"
                if is_dir and first >= 2 and depth < 16:
                    stack.append((f"{path}/", first, depth + 1))
                elif not is_dir:
                    out[path] = (first, size)
        return out

    def read(self, first: int, size: int) -> bytes:
        return self._cluster_data(self._chain(first))[:size] if size else b""
