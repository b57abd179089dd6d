"""Writing regf images: fresh compact layout, or in-place preserve (S1, S3, S4; formats.md §1.2–1.12).

What both modes guarantee (what Windows' CmCheckRegistry and hivex check):
header checksum with the 0/0xFFFFFFFF rule, primary = secondary sequence
number, 4 KiB-multiple bins each ending in one free cell, 8-byte aligned cells,
subkey lists sorted by uppercased name (`lf` with 4-character hints for 1.3/1.4,
`lh` with the ×37 hash for 1.5+, `ri` above 1012 entries), exact `sk` reference
counts, every key with a security cell, big data (`db`) only for minor > 3.
"""

from __future__ import annotations

import os
import struct
from collections import defaultdict
from collections.abc import Callable

from pebuild.clock import build_time, to_filetime
from pebuild.errors import FormatError, UsageError
from pebuild.hive._structs import (
    BASE_BLOCK_SIZE,
    BIG_DATA_SEGMENT,
    CHECKSUM_OFFSET,
    DB,
    HBIN,
    HBIN_HEADER_SIZE,
    HBIN_SIZE_UNIT,
    KEY_COMP_NAME,
    KEY_HIVE_ENTRY,
    KEY_NO_DELETE,
    NK,
    NONE_OFFSET,
    SK,
    VALUE_COMP_NAME,
    VALUE_TOMBSTONE,
    VK,
    BaseBlock,
    header_checksum,
)
from pebuild.hive.check import check_image
from pebuild.hive.model import D_META, D_SUBKEYS, D_VALUES, MAX_DEPTH, Hive, Key, SaveMode
from pebuild.hive.reader import HiveImage, NodeRecord
from pebuild.hive.upcase import lh_hash
from pebuild.hive.value import RegType, Value

LEAF_MAX = 1012  # Windows splits leaves beyond this (S5)
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")

#: Descriptor for keys of a new hive: owner Administrators, group SYSTEM, DACL granting
#: KEY_ALL_ACCESS to Administrators and SYSTEM (the observed WDS store's root ACL, formats.md §1.8).
DEFAULT_SECURITY_DESCRIPTOR = bytes.fromhex(
    "0100048848000000580000000000000014000000"  # revision 1, control 0x8804, owner, group, no SACL, DACL
    "02003400020000000000"  # ACL rev 2, size 0x34, 2 ACEs
    "1800"
    "3f000f00"
    "0102000000000005"
    "20000000"
    "20020000"  # ACE: Administrators KEY_ALL_ACCESS
    "0000"
    "1400"
    "3f000f00"
    "0101000000000005"
    "12000000"  # ACE: SYSTEM KEY_ALL_ACCESS
    "0102000000000005"
    "20000000"
    "20020000"  # owner S-1-5-32-544
    "0101000000000005"
    "12000000"  # group S-1-5-18
)


class Cells:
    """Allocates cells into 4 KiB-multiple bins appended to `buf` (relative offsets)."""

    def __init__(self, buf: bytearray, bin_timestamp: int = 0) -> None:
        self.buf = buf
        self.pos = self.end = len(buf)
        self.bin_start = self.end
        self.bin_timestamp = bin_timestamp

    def alloc(self, length: int) -> int:
        size = (length + 4 + 7) & ~7
        if self.pos + size > self.end:
            self._close_bin()
            bin_size = max(HBIN_SIZE_UNIT, -(-(size + HBIN_HEADER_SIZE) // HBIN_SIZE_UNIT) * HBIN_SIZE_UNIT)
            start = self.end
            self.buf.extend(bytes(bin_size))
            HBIN.pack_into(
                self.buf,
                start,
                b"hbin",
                start,
                bin_size,
                b"\0" * 8,
                self.bin_timestamp if start == 0 else 0,
                0,
            )
            self.bin_start, self.end, self.pos = start, start + bin_size, start + HBIN_HEADER_SIZE
        offset = self.pos
        _I32.pack_into(self.buf, offset, -size)
        self.pos += size
        return offset

    def put(self, data: bytes) -> int:
        offset = self.alloc(len(data))
        self.buf[offset + 4 : offset + 4 + len(data)] = data
        return offset

    def _close_bin(self) -> None:
        if self.end > self.pos:
            _I32.pack_into(self.buf, self.pos, self.end - self.pos)
        self.pos = self.end

    def finish(self) -> bytearray:
        self._close_bin()
        return self.buf


# ------------------------------------------------------------------ encoders
def encode_name(name: str) -> tuple[bytes, bool]:
    try:
        return name.encode("latin-1"), True
    except UnicodeEncodeError:
        return name.encode("utf-16-le", "surrogatepass"), False


def lf_hint(name: str) -> bytes:
    hint = bytearray()
    for ch in name[:4]:
        if ord(ch) > 0xFF:
            break
        hint.append(ord(ch))
    return bytes(hint).ljust(4, b"\0")


def write_value_data(cells: Cells, data: bytes, minor: int) -> tuple[int, int]:
    """(data size field, data offset field) for a vk, allocating cells as needed."""
    size = len(data)
    if size <= 4:
        return 0x80000000 | size, int.from_bytes(data.ljust(4, b"\0"), "little")
    if minor > 3 and size > BIG_DATA_SEGMENT:
        # each segment cell keeps 4 spare bytes like Windows' (16344 + 4 = 16348): hivex reads
        # (cell length - 4) bytes per segment and would cut a tight last segment short
        segments = [
            cells.put(data[i : i + BIG_DATA_SEGMENT] + bytes(4)) for i in range(0, size, BIG_DATA_SEGMENT)
        ]
        seg_list = cells.put(struct.pack(f"<{len(segments)}I", *segments))
        return size, cells.put(DB.pack(b"db", len(segments), seg_list))
    return size, cells.put(data)


def write_value(cells: Cells, value: Value, minor: int) -> int:
    name, compressed = encode_name(value.name)
    flags = VALUE_COMP_NAME if compressed else 0
    if value.tombstone:  # S1: a tombstone is REG_NONE, size 0, data offset 0xFFFFFFFF, flag 0x0002
        head = VK.pack(b"vk", len(name), 0, NONE_OFFSET, RegType.NONE, flags | VALUE_TOMBSTONE, 0)
        return cells.put(head + name)
    size_field, data_field = write_value_data(cells, value.data, minor)
    head = VK.pack(b"vk", len(name), size_field, data_field, value.type, flags, 0)
    return cells.put(head + name)


def write_value_list(cells: Cells, vk_offsets: list[int]) -> int:
    if not vk_offsets:
        return NONE_OFFSET
    return cells.put(struct.pack(f"<{len(vk_offsets)}I", *vk_offsets))


def write_subkey_list(cells: Cells, children: list[tuple[Key, int]], minor: int) -> int:
    """children sorted by uppercased name, each with its nk offset."""
    if not children:
        return NONE_OFFSET
    leaves = [children[i : i + LEAF_MAX] for i in range(0, len(children), LEAF_MAX)]
    offsets = [_write_leaf(cells, leaf, minor) for leaf in leaves]
    if len(offsets) == 1:
        return offsets[0]
    return cells.put(struct.pack(f"<2sH{len(offsets)}I", b"ri", len(offsets), *offsets))


def _write_leaf(cells: Cells, leaf: list[tuple[Key, int]], minor: int) -> int:
    if minor < 3:
        return cells.put(struct.pack(f"<2sH{len(leaf)}I", b"li", len(leaf), *(off for _k, off in leaf)))
    out = bytearray(struct.pack("<2sH", b"lh" if minor >= 5 else b"lf", len(leaf)))
    for key, off in leaf:
        out += _U32.pack(off)
        out += _U32.pack(lh_hash(key.name)) if minor >= 5 else lf_hint(key.name)
    return cells.put(bytes(out))


def sorted_children(key: Key) -> list[Key]:
    return sorted(key._children(), key=lambda k: k.upper)


# ------------------------------------------------------------------ key emission
class Emitter:
    """Writes keys and their whole new subtrees; `security` picks each key's sk offset."""

    def __init__(self, cells: Cells, minor: int, filetime: int, security: Callable[[Key, int], int]) -> None:
        self.cells = cells
        self.minor = minor
        self.filetime = filetime
        self.security = security

    def emit(self, key: Key, parent_offset: int, parent_sk: int, depth: int = 0) -> int:
        if depth > MAX_DEPTH:
            raise FormatError(f"key {key.path[:200]} is nested deeper than {MAX_DEPTH} levels")
        cells = self.cells
        name, compressed = encode_name(key.name)
        nk = cells.alloc(NK.size + len(name))
        sk = self.security(key, parent_sk)
        class_off, class_len = self.write_class(key)
        values = key._value_objects()
        vk_offsets = [write_value(cells, v, self.minor) for v in values]
        values_list = write_value_list(cells, vk_offsets)
        children = sorted_children(key)
        pairs = [(c, self.emit(c, nk, sk, depth + 1)) for c in children]
        sublist = write_subkey_list(cells, pairs, self.minor)
        flags = key.flags & ~KEY_COMP_NAME | (KEY_COMP_NAME if compressed else 0)
        if key.parent is None:
            flags |= KEY_HIVE_ENTRY | KEY_NO_DELETE
        NK.pack_into(
            cells.buf,
            nk + 4,
            b"nk",
            flags,
            key.timestamp if key.timestamp is not None else self.filetime,
            key.access_bits,
            parent_offset,
            len(children),
            0,
            sublist,
            NONE_OFFSET,
            len(values),
            values_list,
            sk,
            class_off,
            max((2 * len(c.name) for c in children), default=0),
            max((2 * len(c.class_name or "") for c in children), default=0),
            max((2 * len(v.name) for v in values), default=0),
            max((len(v.data) for v in values), default=0),
            0,
            len(name),
            class_len,
        )
        cells.buf[nk + 4 + NK.size : nk + 4 + NK.size + len(name)] = name
        return nk

    def write_class(self, key: Key) -> tuple[int, int]:
        if not key.class_name:
            return NONE_OFFSET, 0
        data = key.class_name.encode("utf-16-le", "surrogatepass")
        return self.cells.put(data), len(data)


def _security_cells(cells: Cells) -> tuple[Callable[[Key, int], int], Callable[[], None]]:
    """sk allocation for compact mode: one cell per distinct descriptor, exact refcounts."""
    by_descriptor: dict[bytes, int] = {}
    descriptor_of: dict[int, bytes] = {}
    refs: dict[int, int] = defaultdict(int)

    def security(key: Key, parent_sk: int) -> int:
        descriptor = key.security_descriptor()
        if descriptor is None:
            descriptor = descriptor_of.get(parent_sk, DEFAULT_SECURITY_DESCRIPTOR)
        sk = by_descriptor.get(descriptor)
        if sk is None:
            sk = cells.put(SK.pack(b"sk", 0, 0, 0, 0, len(descriptor)) + descriptor)
            by_descriptor[descriptor] = sk
            descriptor_of[sk] = descriptor
        refs[sk] += 1
        return sk

    def link() -> None:
        ring = list(by_descriptor.values())
        for i, sk in enumerate(ring):
            struct.pack_into("<III", cells.buf, sk + 4 + 4, ring[(i + 1) % len(ring)], ring[i - 1], refs[sk])

    return security, link


def write_compact(hive: Hive, timestamp: int | None) -> bytes:
    seconds = build_time(timestamp)
    filetime = to_filetime(seconds)
    cells = Cells(bytearray(), filetime)
    security, link = _security_cells(cells)
    emitter = Emitter(cells, hive.minor, filetime, security)
    try:
        root = emitter.emit(hive.root, NONE_OFFSET, NONE_OFFSET)
    except (struct.error, RecursionError) as exc:
        raise FormatError(f"cannot write hive: {exc}") from None
    link()
    bins = cells.finish()
    image = hive._image
    sequence = max(image.primary_sequence, image.secondary_sequence) + 1 if image else 1
    header = _header(image, hive.minor, sequence, filetime, root, len(bins))
    return header + bytes(bins)


def _header(image: HiveImage | None, minor: int, sequence: int, filetime: int, root: int, size: int) -> bytes:
    if image is not None:
        base = bytearray(image.data[:BASE_BLOCK_SIZE])
    else:
        fields = {
            "primary_sequence_number": 0,
            "secondary_sequence_number": 0,
            "last_written_timestamp": 0,
            "major_version": 1,
            "minor_version": minor,
            "file_type": 0,
            "file_format": 1,
            "root_cell_offset": 0,
            "hive_bins_data_size": 0,
            "clustering_factor": 1,
            "file_name": bytes(64),
            "rm_id": bytes(16),
            "log_id": bytes(16),
            "flags": 0,
            "tm_id": bytes(16),
            "guid_signature": bytes(4),
            "last_reorganized_timestamp": 0,
            "reserved": bytes(332),
            "checksum": 0,
            "reserved_2": bytes(3576),
            "boot_type": 0,
            "boot_recover": 0,
        }
        base = bytearray(BaseBlock.build(fields))
    sequence &= 0xFFFFFFFF
    struct.pack_into("<IIQII", base, 4, sequence, sequence, filetime, 1, minor)
    struct.pack_into("<II", base, 36, root, size)
    struct.pack_into("<I", base, 28, 0)  # primary file
    struct.pack_into("<I", base, CHECKSUM_OFFSET, header_checksum(bytes(base)))
    return bytes(base)


# ------------------------------------------------------------------ preserve mode
def write_preserve(hive: Hive, timestamp: int | None) -> bytes:
    image = hive._image
    if image is None:
        return write_compact(hive, timestamp)
    filetime = to_filetime(build_time(timestamp))
    buf = bytearray(image.data[BASE_BLOCK_SIZE : BASE_BLOCK_SIZE + image.bins_size])
    cells = Cells(buf)
    sk_delta: dict[int, int] = defaultdict(int)
    freed: set[int] = set()
    patcher = _Preserver(image, hive, cells, filetime, sk_delta, freed)
    try:
        for offset in hive._deleted:
            patcher.free_subtree(offset)
        for key in sorted(hive._dirty, key=lambda k: k.record.offset if k.record else 0):
            if not key._detached:
                patcher.rewrite(key)
        patcher.apply_security_deltas()
    except (struct.error, ValueError, IndexError, RecursionError) as exc:
        raise FormatError(f"cannot rewrite malformed hive: {exc}") from None
    bins = cells.finish()
    sequence = max(image.primary_sequence, image.secondary_sequence) + 1
    header = _header(image, image.minor, sequence, filetime, image.root_offset, len(bins))
    return header + bytes(bins)


class _Preserver:
    def __init__(
        self,
        image: HiveImage,
        hive: Hive,
        cells: Cells,
        filetime: int,
        sk_delta: dict[int, int],
        freed: set[int],
    ) -> None:
        self.image, self.hive, self.cells, self.filetime = image, hive, cells, filetime
        self.sk_delta, self.freed = sk_delta, freed

        def security(key: Key, parent_sk: int) -> int:
            sk = key.record.security if key.record is not None else parent_sk
            sk_delta[sk] += 1
            return sk

        self.emitter = Emitter(cells, image.minor, filetime, security)

    def free(self, offset: int) -> None:
        if offset == NONE_OFFSET or offset in self.freed or offset >= self.image.bins_size:
            return
        self.freed.add(offset)
        size = _I32.unpack_from(self.cells.buf, offset)[0]
        if size < 0:
            _I32.pack_into(self.cells.buf, offset, -size)

    def free_list(self, offset: int) -> None:
        if offset == NONE_OFFSET:
            return
        pos, _length = self.image.cell(offset, "subkey list")
        sig, count = struct.unpack_from("<2sH", self.image.data, pos)
        if sig == b"ri":
            for leaf in struct.unpack_from(f"<{count}I", self.image.data, pos + 4):
                self.free(leaf)
        self.free(offset)

    def free_value(self, vk: int) -> None:
        pos, _length = self.image.cell(vk, "value")
        _sig, _nl, size, data_off, *_rest = VK.unpack_from(self.image.data, pos)
        if not size & 0x80000000 and size:
            dpos, dlen = self.image.cell(data_off, "value data")
            if size > dlen and self.image.data[dpos : dpos + 2] == b"db":
                _s, nseg, seg_list = DB.unpack_from(self.image.data, dpos)
                lpos, _l = self.image.cell(seg_list, "segment list")
                for seg in struct.unpack_from(f"<{nseg}I", self.image.data, lpos):
                    self.free(seg)
                self.free(seg_list)
            self.free(data_off)
        self.free(vk)

    def free_subtree(self, offset: int) -> None:
        stack = [offset]
        while stack:
            nk = stack.pop()
            if nk in self.freed:
                continue
            record = NodeRecord._make(self.image.node(nk))
            self.free(nk)
            self.sk_delta[record.security] -= 1
            if record.class_offset != NONE_OFFSET and record.class_length:
                self.free(record.class_offset)
            for value in self.image.values(record.values_list, record.value_count):
                self.free_value(value[3])
            if record.value_count:
                self.free(record.values_list)
            stack.extend(self.image.subkey_offsets(record.subkeys_list, record.subkey_count))
            if record.subkey_count:
                self.free_list(record.subkeys_list)

    def rewrite(self, key: Key) -> None:
        record = key.record
        assert record is not None
        buf, nk = self.cells.buf, record.offset + 4
        if key._dirty & D_VALUES:
            values = key._value_objects()
            kept = {v.vk_offset for v in values if v.vk_offset is not None}
            for old in self.image.values(record.values_list, record.value_count):
                if old[3] not in kept:
                    self.free_value(old[3])
            if record.value_count:
                self.free(record.values_list)
            offsets = [
                v.vk_offset if v.vk_offset is not None else write_value(self.cells, v, self.image.minor)
                for v in values
            ]
            struct.pack_into("<II", buf, nk + 0x24, len(values), write_value_list(self.cells, offsets))
            struct.pack_into(
                "<II",
                buf,
                nk + 0x3C,
                max((2 * len(v.name) for v in values), default=0),
                max((len(v.data) for v in values), default=0),
            )
        if key._dirty & D_SUBKEYS:
            if record.subkey_count:
                self.free_list(record.subkeys_list)
            children = sorted_children(key)
            pairs = [
                (
                    c,
                    c.record.offset
                    if c.record is not None
                    else self.emitter.emit(c, record.offset, record.security),
                )
                for c in children
            ]
            sublist = write_subkey_list(self.cells, pairs, self.image.minor)
            struct.pack_into("<I", buf, nk + 0x14, len(children))
            struct.pack_into("<I", buf, nk + 0x1C, sublist)
            struct.pack_into(
                "<II",
                buf,
                nk + 0x34,
                max((2 * len(c.name) for c in children), default=0),
                max((2 * len(c.class_name or "") for c in children), default=0),
            )
        if key._dirty & D_META:
            if record.class_offset != NONE_OFFSET and record.class_length:
                self.free(record.class_offset)
            class_off, class_len = self.emitter.write_class(key)
            struct.pack_into("<I", buf, nk + 0x30, class_off)
            struct.pack_into("<H", buf, nk + 0x4A, class_len)
            struct.pack_into("<H", buf, nk + 0x02, key.flags)
        stamp = key.timestamp if key.timestamp is not None else self.filetime
        struct.pack_into("<Q", buf, nk + 0x04, stamp)

    def apply_security_deltas(self) -> None:
        buf = self.cells.buf
        for sk, delta in sorted(self.sk_delta.items()):
            if delta == 0:
                continue
            _desc, flink, blink, refs = self.image.security(sk)
            refs = _U32.unpack_from(buf, sk + 4 + 12)[0] + delta
            if refs > 0:
                _U32.pack_into(buf, sk + 4 + 12, refs)
                continue
            # unreferenced: unlink from the sk ring and free it (S4 cmchek2.c walks Flink/Blink)
            _U32.pack_into(buf, sk + 4 + 12, 0)
            flink = _U32.unpack_from(buf, sk + 8)[0]
            blink = _U32.unpack_from(buf, sk + 12)[0]
            if flink != sk:
                _U32.pack_into(buf, blink + 8, flink)
                _U32.pack_into(buf, flink + 12, blink)
            self.free(sk)


def serialize(hive: Hive, mode: SaveMode = "compact", timestamp: int | None = None) -> bytes:
    """Bytes of the hive. `timestamp` (Unix seconds; default build_time()) stamps new and
    changed keys and the header. compact: fresh layout, deterministic; preserve: untouched
    cells keep their bytes and offsets, changes are appended.

    Refused with FormatError, before anything is written: a dirty hive that was not
    recovered from its logs (`Hive.read_only`), and a hive whose image fails the full
    structural check (check.py) -- a writer must never put a new header on corrupt cells."""
    if mode not in ("compact", "preserve"):
        raise UsageError(f"hive save mode must be 'compact' or 'preserve', got {mode!r}")
    if hive.read_only:
        raise FormatError(hive.read_only, path=hive.source)
    if hive._image is not None and not hive.checked:
        try:
            check_image(hive._image)
        except FormatError as exc:
            raise FormatError(f"refusing to write a damaged hive: {exc.message}", path=hive.source) from None
        hive.checked = True
    if mode == "compact":
        return write_compact(hive, timestamp)
    if mode == "preserve":
        return write_preserve(hive, timestamp)
    raise UsageError(f"hive save mode must be 'compact' or 'preserve', got {mode!r}")


def save(
    hive: Hive, path: str | os.PathLike[str], mode: SaveMode = "compact", timestamp: int | None = None
) -> None:
    """serialize() to a temporary file beside `path`, fsync, rename: a crash never leaves half a hive.

    Saving onto the file the hive was opened from also empties the transaction logs found
    beside it (their data is in the new file, which is clean): left as they were, a later
    loader could replay stale pages over it."""
    from pebuild.fsutil import write_bytes_atomic
    from pebuild.hive.log import empty_logs

    data = serialize(hive, mode, timestamp)
    write_bytes_atomic(path, data)
    if hive.source is not None and hive.log_names and _same_file(hive.source, path):
        empty_logs(path, hive.log_names)


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
