"""Read-only FAT12/FAT16/FAT32: list a volume's files (with long names) and read them.

`pebuild check` looks inside the El Torito UEFI image (efisys.bin, a FAT12 floppy)
and a USB image's FAT32 partition, and `pebuild smoke` reads the EFI/BOOT names off
media, both without mtools, root or loop devices. A volume is recognised by the
same boot-sector check the writer's images pass (`pebuild.fat.fat_type`).

Sources: fatgen103 (Microsoft FAT specification) §3 BPB and the FAT-type rule, §4
FAT entries (end of chain >= 0xFF8 / 0xFFF8 / 0x0FFFFFF8, bad cluster just below,
the top 4 bits of a FAT32 entry reserved), §6 directory entries (0xE5 free, 0x05
for a leading 0xE5, 0x00 end, at most 65,536 entries), §7 long names (ordinal
0x40 = last, checksum of the short name). Byte 12 (DIR_NTRes) bits 3/4 mark a
lower-case base/extension, as Windows NT writes 8.3 names such as `bootx64.efi`.

Damaged input is one FormatError naming the volume, never a traceback or a hang:
a read past the end, a chain that loops, runs into a free or bad cluster or points
past the last cluster, a file longer than its chain, a directory reached twice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from pebuild.errors import FormatError, UsageError
from pebuild.fat import fat_type
from pebuild.fat._names import LFN_ATTR, short_name_checksum

ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
NT_LOWER_BASE = 0x08
NT_LOWER_EXT = 0x10
MAX_DIR_ENTRIES = 65_536  # fatgen103 §6
_END_OF_CHAIN = {12: 0xFF8, 16: 0xFFF8, 32: 0x0FFFFFF8}
_PAGE = 1 << 16  # FAT bytes read at a time: a walk touches only the pages its chains use


@dataclass(frozen=True)
class FatDirEntry:
    """One live directory entry: `name` is the long name (else the short one, case bits applied)."""

    name: str
    short_name: str  # as stored, upper case: 'BOOTX64.EFI'
    is_dir: bool
    first_cluster: int
    size: int


class FatExtent(NamedTuple):
    """Where a file's data is: its first cluster and its size in bytes."""

    first_cluster: int
    size: int


class FatVolume:
    """The FAT volume at byte `offset` of `fh` (a file or BytesIO); paths are '/'-joined."""

    def __init__(self, fh: BinaryIO, offset: int = 0, *, name: str | None = None) -> None:
        self.fh, self.offset = fh, offset
        self.name = name if name is not None else f"{getattr(fh, 'name', 'FAT volume')}@{offset}"
        sector = self._read(0, 512)
        kind = fat_type(sector)
        if kind is None:
            raise FormatError("not a FAT file system (no valid FAT boot sector)", path=self.name)
        bps, spc, reserved, fats, root_entries, total16, _media, fat16 = struct.unpack_from(
            "<HBHBHHBH", sector, 11
        )
        total32, fat32, flags, _version, root_cluster = struct.unpack_from("<IIHHI", sector, 32)
        fat_sectors, total = fat16 or fat32, total16 or total32
        root_sectors = (root_entries * 32 + bps - 1) // bps
        first_data = reserved + fats * fat_sectors + root_sectors
        self.fat_type = kind
        self.sector_size = bps
        self.cluster_size = bps * spc
        self.cluster_count = (total - first_data) // spc
        active = flags & 0x0F if kind == 32 and flags & 0x80 else 0  # FAT32 without mirroring
        if active >= fats:
            raise FormatError(f"active FAT {active} of {fats} does not exist", path=self.name)
        self.fat_offset = (reserved + active * fat_sectors) * bps
        self.fat_bytes = fat_sectors * bps
        self.root_offset = (reserved + fats * fat_sectors) * bps  # FAT12/16 fixed root directory
        self.root_entries = root_entries
        self.root_cluster = root_cluster if kind == 32 else 0
        self.data_offset = first_data * bps
        last = self.cluster_count + 1
        if (last + 1) * kind > fat_sectors * bps * 8:
            raise FormatError(
                f"FAT of {fat_sectors} sectors cannot map {self.cluster_count} clusters", path=self.name
            )
        if kind == 32 and not 2 <= root_cluster <= last:
            raise FormatError(f"root directory cluster {root_cluster} is outside 2..{last}", path=self.name)
        self._pages: dict[int, bytes] = {}

    # ------------------------------------------------------------------ raw access

    def _read(self, pos: int, size: int) -> bytes:
        self.fh.seek(self.offset + pos)
        data = self.fh.read(size)
        if len(data) != size:
            raise FormatError(f"FAT volume truncated: {size} bytes at byte {pos} are missing", path=self.name)
        return data

    def _fat_bytes(self, pos: int, size: int) -> bytes:
        page, start = divmod(pos, _PAGE)
        data = self._page(page)
        if start + size > len(data):  # a FAT12 entry across two pages
            data += self._page(page + 1)
        return data[start : start + size]

    def _page(self, page: int) -> bytes:
        cached = self._pages.get(page)
        if cached is None:
            size = min(_PAGE, self.fat_bytes - page * _PAGE)
            cached = self._pages[page] = self._read(self.fat_offset + page * _PAGE, size)
        return cached

    def next_cluster(self, cluster: int) -> int:
        """The FAT entry of `cluster` (fatgen103 §4); FAT32's top four bits masked off."""
        if self.fat_type == 12:
            value = int.from_bytes(self._fat_bytes(cluster + cluster // 2, 2), "little")
            return value >> 4 if cluster & 1 else value & 0xFFF
        if self.fat_type == 16:
            return int.from_bytes(self._fat_bytes(cluster * 2, 2), "little")
        return int.from_bytes(self._fat_bytes(cluster * 4, 4), "little") & 0x0FFFFFFF

    def chain(self, first: int, keep: int | None = None) -> tuple[list[int], int]:
        """(the first `keep` clusters of the chain from `first`, its length), walked to its end mark.

        The whole chain is walked even when fewer clusters are wanted, so a loop anywhere
        is found; Brent's cycle detection finds it in O(length) steps and constant memory.
        """
        last, end = self.cluster_count + 1, _END_OF_CHAIN[self.fat_type]
        out: list[int] = []
        tortoise, power, lam = -1, 1, 0
        cluster, length = first, 0
        while True:
            if not 2 <= cluster <= last:
                what = "a free cluster" if cluster == 0 else f"cluster {cluster}, outside 2..{last}"
                if cluster == end - 1:
                    what = "a cluster marked bad"
                raise FormatError(f"cluster chain from {first} runs into {what}", path=self.name)
            if cluster == tortoise:
                raise FormatError(
                    f"cluster chain from {first} loops back to cluster {cluster}", path=self.name
                )
            if lam == power:
                tortoise, power, lam = cluster, power * 2, 0
            lam += 1
            length += 1
            if keep is None or len(out) < keep:
                out.append(cluster)
            cluster = self.next_cluster(cluster)
            if cluster >= end:
                return out, length

    def _clusters(self, clusters: list[int]) -> bytes:
        """The data of `clusters`, one read per run of consecutive clusters."""
        parts, i = [], 0
        while i < len(clusters):
            j = i + 1
            while j < len(clusters) and clusters[j] == clusters[j - 1] + 1:
                j += 1
            pos = self.data_offset + (clusters[i] - 2) * self.cluster_size
            parts.append(self._read(pos, (j - i) * self.cluster_size))
            i = j
        return b"".join(parts)

    # ------------------------------------------------------------------ directories

    def _dir_bytes(self, cluster: int | None) -> bytes:
        if cluster is None and self.fat_type != 32:
            return self._read(self.root_offset, self.root_entries * 32)
        first = self.root_cluster if cluster is None else cluster
        limit = max(1, MAX_DIR_ENTRIES * 32 // self.cluster_size)
        clusters, length = self.chain(first, limit)
        if length > limit:
            raise FormatError(f"directory at cluster {first} holds more than 65,536 entries", path=self.name)
        return self._clusters(clusters)

    def entries(self, cluster: int | None = None) -> list[FatDirEntry]:
        """The live entries of the directory at `cluster` (None: the root), without '.' and '..'."""
        data = self._dir_bytes(cluster)
        out: list[FatDirEntry] = []
        lfn = _LongName()
        for pos in range(0, len(data) - 31, 32):
            entry = data[pos : pos + 32]
            if entry[0] == 0x00:
                break
            attr = entry[11]
            if entry[0] == 0xE5:
                lfn.reset()
            elif (attr & 0x3F) == LFN_ATTR:
                lfn.add(entry)
            elif attr & ATTR_VOLUME_ID:
                lfn.reset()
            else:
                found = self._entry(entry, lfn.take(entry[:11]))
                if found is not None:
                    out.append(found)
        return out

    def _entry(self, entry: bytes, long_name: str | None) -> FatDirEntry | None:
        raw = (b"\xe5" + entry[1:11]) if entry[0] == 0x05 else entry[:11]
        if raw in (b".          ", b"..         "):
            return None
        base, ext = raw[:8].decode("cp437").rstrip(" "), raw[8:].decode("cp437").rstrip(" ")
        short = f"{base}.{ext}" if ext else base
        if long_name is None:
            nt = entry[12]
            base = base.lower() if nt & NT_LOWER_BASE else base
            ext = ext.lower() if nt & NT_LOWER_EXT else ext
        name = long_name or (f"{base}.{ext}" if ext else base)
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise FormatError(f"directory entry {name!r} has a name FAT does not allow", path=self.name)
        hi, lo = struct.unpack_from("<H", entry, 20)[0], struct.unpack_from("<H", entry, 26)[0]
        first = (hi << 16 | lo) if self.fat_type == 32 else lo
        size = struct.unpack_from("<I", entry, 28)[0]
        return FatDirEntry(name, short, bool(entry[11] & ATTR_DIRECTORY), first, size)

    def find(self, path: str) -> FatDirEntry | None:
        """The entry at `path` ('/'-joined, matched case-insensitively on long or short names), or None."""
        entry: FatDirEntry | None = None
        for part in [p for p in path.split("/") if p]:
            if entry is not None and not entry.is_dir:
                return None
            want = part.casefold()
            listing = self.entries(None if entry is None else entry.first_cluster)
            entry = next((e for e in listing if want in (e.name.casefold(), e.short_name.casefold())), None)
            if entry is None:
                return None
        return entry

    def listdir(self, path: str = "") -> list[FatDirEntry]:
        """The entries of the directory at `path` ('' the root)."""
        if not path.strip("/"):
            return self.entries(None)
        entry = self.find(path)
        if entry is None or not entry.is_dir:
            raise UsageError(f"no directory {path!r} in the FAT volume", path=self.name)
        return self.entries(entry.first_cluster)

    def files(self) -> dict[str, FatExtent]:
        """Every file of the volume: path -> (first cluster, size); each directory is read once."""
        out: dict[str, FatExtent] = {}
        visited: set[int] = {self.root_cluster} if self.fat_type == 32 else set()
        stack: list[tuple[str, int | None]] = [("", None)]
        while stack:
            prefix, cluster = stack.pop()
            for entry in self.entries(cluster):
                path = f"{prefix}{entry.name}"
                if not entry.is_dir:
                    out[path] = FatExtent(entry.first_cluster, entry.size)
                    continue
                if entry.first_cluster in visited:
                    raise FormatError(
                        f"directory {path!r} points to cluster {entry.first_cluster}, already read",
                        path=self.name,
                    )
                visited.add(entry.first_cluster)
                stack.append((f"{path}/", entry.first_cluster))
        return out

    # ------------------------------------------------------------------ files

    def read(self, first: int, size: int) -> bytes:
        """`size` bytes of the chain from cluster `first` (a directory entry's extent).

        A chain longer than the size is read as far as the size (Windows and Linux do the
        same; fsck.fat calls it repairable); a shorter one is damage.
        """
        if size == 0:
            return b""
        need = -(-size // self.cluster_size)
        clusters, length = self.chain(first, need)
        if length < need:
            raise FormatError(
                f"file of {size} bytes at cluster {first} has a chain of {length} clusters, {need} needed",
                path=self.name,
            )
        return self._clusters(clusters)[:size]

    def read_file(self, path: str) -> bytes:
        """The contents of the file at `path`."""
        entry = self.find(path)
        if entry is None or entry.is_dir:
            raise UsageError(f"no file {path!r} in the FAT volume", path=self.name)
        return self.read(entry.first_cluster, entry.size)


class _LongName:
    """Long-name pieces seen so far (fatgen103 §7): they count down to ordinal 1, then the short entry."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.expected = 0
        self.checksum = -1

    def add(self, entry: bytes) -> None:
        ordinal, checksum = entry[0] & 0x1F, entry[13]
        if entry[0] & 0x40:
            self.reset()
            self.checksum, self.expected = checksum, ordinal
        if ordinal == 0 or ordinal != self.expected or checksum != self.checksum:
            self.reset()
            return
        self.parts[ordinal] = entry[1:11] + entry[14:26] + entry[28:32]
        self.expected -= 1

    def take(self, short_name: bytes) -> str | None:
        """The long name when its pieces are complete and belong to `short_name`, else None."""
        complete = self.parts and self.expected == 0 and self.checksum == short_name_checksum(short_name)
        raw = b"".join(self.parts[i] for i in sorted(self.parts)) if complete else b""
        self.reset()
        if not raw:
            return None
        return raw.decode("utf-16-le", "replace").split("\0")[0]
