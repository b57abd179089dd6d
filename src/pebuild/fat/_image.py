"""Plan and write a FAT volume: directory tree, cluster allocation, FATs, then file data.

The plan holds only metadata (directory entries, cluster chains); file contents
are copied straight into the output at their computed offsets when the volume
is written, so a 1 GB boot.wim never has to sit in memory. Allocation is
deterministic: the FAT32 root, then every directory (pre-order, sorted), then
every file (pre-order, sorted), each contiguous.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pebuild.clock import build_time, stable_guid
from pebuild.errors import FormatError, OutputError, UsageError
from pebuild.fat._bootsector import reserved_area
from pebuild.fat._geometry import SECTOR, FatGeometry, choose_geometry
from pebuild.fat._names import as_short_name, check_long_name, lfn_count, lfn_entries, make_short_name
from pebuild.fsutil import normalize_image_path
from pebuild.progress import Progress, ProgressEvent

ATTR_READ_ONLY = 0x01
ATTR_VOLUME_ID = 0x08
ATTR_DIRECTORY = 0x10
ATTR_ARCHIVE = 0x20
MAX_FILE_SIZE = 0xFFFFFFFF
_COPY_CHUNK = 1 << 20


class VolumeFullError(UsageError):
    """The files need more clusters than the volume has (callers may retry with a larger size)."""


@dataclass(frozen=True)
class FatFile:
    """One entry for the image: `source` bytes or a file path (streamed at write time); None = directory."""

    source: bytes | Path | None = None
    read_only: bool = False
    size: int | None = None  # a Path's size when the caller already knows it (checked again at write time)

    @property
    def is_dir(self) -> bool:
        return self.source is None


@dataclass
class _Node:
    name: str
    source: bytes | Path | None = None  # None for directories
    size: int = 0
    read_only: bool = False
    children: dict[str, _Node] = field(default_factory=dict)
    first_cluster: int = 0
    clusters: int = 0
    short_name: bytes = b""
    long_name: bool = False  # needs VFAT LFN entries

    @property
    def is_dir(self) -> bool:
        return self.source is None


def _source_size(entry: FatFile) -> int:
    source = entry.source
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    if entry.size is not None:
        return entry.size
    try:
        st = os.stat(source)  # type: ignore[arg-type]
    except OSError as exc:
        raise UsageError(f"cannot read file for the FAT image: {exc.strerror}", path=source) from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError("not a regular file", path=source)
    return st.st_size


def _split_path(raw_path: str) -> list[str]:
    """'a/b/c' -> parts; anything unusual (backslashes, dots, drive letters) goes through normalize_image_path."""
    text = raw_path.rstrip("/")
    parts = text.split("/")
    if not text or "\\" in text or ":" in text or "" in parts or "." in parts or ".." in parts:
        text = normalize_image_path(raw_path)
        parts = text.split("/") if text else []
    return parts


def build_tree(files: Mapping[str, bytes | Path | FatFile]) -> _Node:
    """Turn {'a/b/c.txt': data, 'empty/': b''} into a tree; names compare case-insensitively, as FAT does.

    Directory spellings that differ only in case ('Boot/x', 'BOOT/y') merge into the first one,
    as copying onto FAT does; two files that differ only in case are refused.
    """
    root = _Node("")
    for raw_path in sorted(files):
        value = files[raw_path]
        entry = value if isinstance(value, FatFile) else FatFile(None if raw_path.endswith("/") else value)
        parts = _split_path(raw_path)
        if not parts:
            raise UsageError(f"empty path in FAT file list: {raw_path!r}")
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            child = node.children.get(part.casefold())
            if child is None:
                check_long_name(part)
                child = _Node(part)
                node.children[part.casefold()] = child
            elif child.name != part and (not child.is_dir or (last and not entry.is_dir)):
                raise UsageError(
                    f"names differ only in case, which FAT cannot hold: {child.name!r} and {part!r}"
                )
            if last and not entry.is_dir:
                if child.children or child.source is not None:
                    raise UsageError(f"path given twice or both as file and directory: {raw_path!r}")
                assert entry.source is not None
                child.source = entry.source
                child.size = _source_size(entry)
                child.read_only = entry.read_only
                if child.size > MAX_FILE_SIZE:
                    raise UsageError(
                        f"{raw_path} is {child.size} bytes; FAT32 files must be smaller than 4 GiB", path=None
                    )
            elif child.source is not None:
                raise UsageError(f"{'/'.join(parts[: depth + 1])!r} is a file and a directory")
            node = child
    return root


def _walk(node: _Node) -> list[_Node]:
    """Pre-order, children sorted by their case-folded name."""
    out = [node]
    for key in sorted(node.children):
        child = node.children[key]
        if child.is_dir:
            out.extend(_walk(child))
        else:
            out.append(child)
    return out


def _fat_datetime(epoch: int) -> tuple[int, int]:
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    year = min(max(dt.year, 1980), 2107)
    if dt.year < 1980:
        return (0 << 9) | (1 << 5) | 1, 0
    date = ((year - 1980) << 9) | (dt.month << 5) | dt.day
    time_ = (dt.hour << 11) | (dt.minute << 5) | (dt.second // 2)
    return date, time_


def _short_entry(name11: bytes, attr: int, cluster: int, size: int, date: int, time_: int) -> bytes:
    return struct.pack(
        "<11sBBBHHHHHHHI",
        name11,
        attr,
        0,
        0,
        time_,
        date,
        date,
        cluster >> 16,
        time_,
        date,
        cluster & 0xFFFF,
        size,
    )


def check_label(label: str) -> str:
    text = label.upper()
    if len(text) > 11 or not all(c == " " or as_short_name(c) is not None or c in "." for c in text):
        raise UsageError(
            f"FAT volume label must be up to 11 characters A-Z 0-9 space _ - etc., got {label!r}"
        )
    return text


@dataclass
class FatPlan:
    """Everything needed to write the volume, minus the file contents."""

    geometry: FatGeometry
    reserved: bytes
    fat: bytes  # one FAT copy, trimmed to the used part (the rest is zeros)
    root_dir: bytes  # FAT12/16 fixed root directory region ("" on FAT32)
    dir_clusters: list[tuple[int, bytes]]  # (first cluster, directory bytes)
    file_extents: list[tuple[int, int, bytes | Path]]  # (first cluster, size, source)
    used_clusters: int

    @property
    def size(self) -> int:
        return self.geometry.total_sectors * SECTOR

    @property
    def data_bytes(self) -> int:
        return sum(size for _c, size, _s in self.file_extents)

    def write(self, fh: BinaryIO, offset: int = 0, progress: Progress | None = None) -> None:
        """Write the volume at `offset` of a file whose region there already reads as zeros."""
        geo = self.geometry
        fh.seek(offset)
        fh.write(self.reserved)
        for i in range(geo.num_fats):
            fh.seek(offset + (geo.reserved_sectors + i * geo.fat_sectors) * SECTOR)
            fh.write(self.fat)
        if self.root_dir:
            fh.seek(offset + geo.first_root_sector * SECTOR)
            fh.write(self.root_dir)
        for cluster, data in self.dir_clusters:
            fh.seek(offset + geo.cluster_offset(cluster))
            fh.write(data)
        total = self.data_bytes
        done = 0
        for cluster, size, source in self.file_extents:
            _copy_into(fh, offset + geo.cluster_offset(cluster), size, source)
            done += size
            if progress is not None:
                progress(ProgressEvent("fat", done, total))
        fh.flush()


def _copy_into(fh: BinaryIO, position: int, size: int, source: bytes | Path) -> None:
    if not isinstance(source, Path):
        fh.seek(position)
        fh.write(source)
        return
    try:
        src = open(source, "rb")  # noqa: SIM115 - closed below, one fd per file
    except OSError as exc:
        raise UsageError(f"cannot read file: {exc.strerror}", path=source) from None
    with src:
        if os.fstat(src.fileno()).st_size != size:
            raise FormatError("file changed size while the FAT image was being written", path=source)
        copied = 0
        out_fd = _fileno(fh)
        if out_fd is not None:
            fh.flush()
            try:
                while copied < size:
                    n = os.copy_file_range(src.fileno(), out_fd, size - copied, copied, position + copied)
                    if n == 0:
                        break
                    copied += n
            except OSError:
                pass
        if copied < size:
            src.seek(copied)
            fh.seek(position + copied)
            while copied < size:
                chunk = src.read(min(_COPY_CHUNK, size - copied))
                if not chunk:
                    raise FormatError("file shrank while the FAT image was being written", path=source)
                try:
                    fh.write(chunk)
                except OSError as exc:
                    raise OutputError(f"cannot write image: {exc.strerror}") from None
                copied += len(chunk)


def _fileno(fh: BinaryIO) -> int | None:
    if isinstance(fh, io.BytesIO):
        return None
    try:
        return fh.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def _assign_short_names(node: _Node) -> int:
    """Give each child a unique short name (exact 8.3 names first) and return the entry count."""
    taken: set[bytes] = set()
    count = 0
    children = [node.children[k] for k in sorted(node.children)]
    for child in children:
        exact = as_short_name(child.name)
        child.long_name = exact is None
        if exact is not None:
            child.short_name = exact
            taken.add(exact)
            count += 1
    tails: dict[str, int] = {}
    for child in children:
        if child.long_name:
            child.short_name = make_short_name(child.name, taken, tails)
            taken.add(child.short_name)
            count += 1 + lfn_count(child.name)
    return count


def _dir_bytes(node: _Node, parent_cluster: int | None, label: str, stamp: tuple[int, int]) -> bytes:
    """Directory entries of `node`; parent_cluster None marks the root (volume label, no dot entries)."""
    date, time_ = stamp
    out = bytearray()
    if parent_cluster is None:
        if label != "NO NAME":
            out += _short_entry(label.encode("ascii").ljust(11), ATTR_VOLUME_ID, 0, 0, date, time_)
    else:
        out += _short_entry(b".          ", ATTR_DIRECTORY, node.first_cluster, 0, date, time_)
        out += _short_entry(b"..         ", ATTR_DIRECTORY, parent_cluster, 0, date, time_)
    for key in sorted(node.children):
        child = node.children[key]
        if child.long_name:
            for lfn in lfn_entries(child.name, child.short_name):
                out += lfn
        attr = ATTR_DIRECTORY if child.is_dir else ATTR_ARCHIVE | (ATTR_READ_ONLY if child.read_only else 0)
        size = 0 if child.is_dir else child.size
        out += _short_entry(child.short_name, attr, child.first_cluster, size, date, time_)
    return bytes(out)


def _fat_table(geo: FatGeometry, chains: list[tuple[int, int]], top: int) -> bytes:
    """One FAT, covering clusters 0..top-1: contiguous chains, end-of-chain marks, media byte."""
    eoc = {12: 0xFFF, 16: 0xFFFF, 32: 0x0FFFFFFF}[geo.fat_type]
    entries = array("I", bytes(4 * max(top, 2)))
    entries[0] = {12: 0xF00, 16: 0xFF00, 32: 0x0FFFFF00}[geo.fat_type] | geo.media
    entries[1] = eoc
    for start, count in chains:
        if count > 1:
            entries[start : start + count - 1] = array("I", range(start + 1, start + count))
        entries[start + count - 1] = eoc
    if geo.fat_type == 32:
        if sys.byteorder != "little":  # pragma: no cover - pebuild runs on little-endian hosts
            entries.byteswap()
        raw = entries.tobytes()
    elif geo.fat_type == 16:
        raw = struct.pack(f"<{len(entries)}H", *entries)
    else:
        packed = bytearray((len(entries) * 3 + 1) // 2)
        for i, value in enumerate(entries):
            pos = i * 3 // 2
            if i % 2 == 0:
                packed[pos] = value & 0xFF
                packed[pos + 1] = (packed[pos + 1] & 0xF0) | (value >> 8)
            else:
                packed[pos] = (packed[pos] & 0x0F) | ((value & 0x0F) << 4)
                packed[pos + 1] = value >> 4
        raw = bytes(packed)
    pad = (-len(raw)) % SECTOR
    return raw + bytes(pad)


@dataclass(frozen=True)
class FatOptions:
    """make_fat_image's keyword arguments, kept together."""

    size: int
    fat_type: int | None = None
    label: str = "NO NAME"
    oem: str = "MSDOS5.0"
    volume_id: int | None = None
    timestamp: int | None = None
    hidden_sectors: int = 0
    boot_code: bytes | None = None
    cluster_size: int | None = None


def plan_fat(files: Mapping[str, bytes | Path | FatFile], options: FatOptions) -> FatPlan:
    """Lay out the volume: geometry, short names, clusters, FAT and directory bytes."""
    geo = choose_geometry(
        options.size,
        options.fat_type,
        hidden_sectors=options.hidden_sectors,
        cluster_size=options.cluster_size,
    )
    label = check_label(options.label)
    if len(options.oem.encode("ascii", "replace")) > 8:
        raise UsageError(f"OEM name is at most 8 characters, got {options.oem!r}")
    root = build_tree(files)
    nodes = _walk(root)
    cb = geo.cluster_bytes
    entry_counts = {id(n): _assign_short_names(n) + (0 if n is root else 2) for n in nodes if n.is_dir}
    root_count = entry_counts[id(root)] + (1 if label != "NO NAME" else 0)
    if geo.fat_type != 32 and root_count > geo.root_entries:
        raise UsageError(
            f"too many entries in the FAT{geo.fat_type} root directory ({root_count} > {geo.root_entries})"
        )
    next_cluster = 2
    chains: list[tuple[int, int]] = []
    for node in nodes:  # directories first, so the metadata sits together at the start
        if not node.is_dir or (node is root and geo.fat_type != 32):
            continue
        count = root_count if node is root else entry_counts[id(node)]
        node.clusters = max(1, (count * 32 + cb - 1) // cb)
        node.first_cluster = next_cluster
        chains.append((next_cluster, node.clusters))
        next_cluster += node.clusters
    for node in nodes:
        if node.is_dir or node.size == 0:
            continue
        node.clusters = (node.size + cb - 1) // cb
        node.first_cluster = next_cluster
        chains.append((next_cluster, node.clusters))
        next_cluster += node.clusters
    used = next_cluster - 2
    if used > geo.cluster_count:
        need = used * cb
        raise VolumeFullError(
            f"files do not fit: they need {need} bytes of clusters, the FAT{geo.fat_type} volume has "
            f"{geo.cluster_count * cb} (make the image larger)"
        )
    stamp = _fat_datetime(build_time(options.timestamp))
    dir_clusters: list[tuple[int, bytes]] = []
    parents: dict[int, int | None] = {id(root): None}
    for node in nodes:
        if node.is_dir:
            for child in node.children.values():
                if child.is_dir:
                    # '..' of a first-level directory points at cluster 0, even on FAT32 (fatgen103 §6.7)
                    parents[id(child)] = 0 if node is root else node.first_cluster
    root_dir = b""
    for node in nodes:
        if not node.is_dir:
            continue
        data = _dir_bytes(node, parents[id(node)], label, stamp)
        if node is root and geo.fat_type != 32:
            root_dir = data
        else:
            dir_clusters.append((node.first_cluster, data))
    extents = [(n.first_cluster, n.size, n.source) for n in nodes if not n.is_dir and n.size]
    volume_id = options.volume_id
    if volume_id is None:
        volume_id = int.from_bytes(
            stable_guid(
                "fat-volume-id", label, options.size, build_time(options.timestamp), *sorted(files)
            ).bytes[:4],
            "little",
        )
    free = geo.cluster_count - used
    reserved = reserved_area(
        geo,
        oem=options.oem,
        label=label,
        volume_id=volume_id & 0xFFFFFFFF,
        boot_code=options.boot_code,
        free=free,
        next_free=next_cluster if free else 0xFFFFFFFF,
    )
    fat = _fat_table(geo, chains, next_cluster)
    return FatPlan(
        geo,
        reserved,
        fat,
        root_dir,
        dir_clusters,
        [(c, s, src) for c, s, src in extents if src is not None],
        used,
    )
