"""Reading a regf image: header checks up front, cells on demand (S1, S2, S3; formats.md §1).

`HiveImage` validates what hivex and Windows validate before trusting a file
(size, `regf`, version, file type, checksum, sequence numbers, every bin
header); key nodes, lists and values are decoded lazily when the model asks.
Every malformed structure becomes `FormatError`: offsets are bounds-checked,
counts are bounded by their cell size and must match the lists, index roots may
not nest, so a hostile file can neither crash nor hang the reader.

This is the hand-tuned `struct` reader beside the construct declarations in
`_structs.py` (field order identical; tests/hive/test_hive_fastread.py parses
every cell of every fixture hive both ways and compares). The hot paths (`node`,
`values`, lists) inline their bounds checks: a full walk of a 15 MB SYSTEM hive
decodes ~45k key nodes and ~90k values (docs/perf/hive.md).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pebuild.errors import FormatError
from pebuild.hive._structs import (
    BASE_BLOCK_SIZE,
    CHECKSUM_OFFSET,
    DB,
    HBIN,
    HBIN_HEADER_SIZE,
    HBIN_SIZE_UNIT,
    KEY_COMP_NAME,
    NK,
    NK_CELL,
    NONE_OFFSET,
    SK,
    VALUE_COMP_NAME,
    VALUE_TOMBSTONE,
    VK,
    VK_CELL,
    plain_xor,
)
from pebuild.hive.value import Value

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
SUPPORTED_MINORS = (2, 3, 4, 5, 6)


class NodeRecord(NamedTuple):
    """The fields of an nk cell the model needs (offsets relative to the bins data).
    `HiveImage.node` returns them as a plain tuple (`RawNode`); `NodeRecord._make` names them."""

    offset: int
    flags: int
    timestamp: int
    access_bits: int
    parent: int
    subkey_count: int
    subkeys_list: int
    value_count: int
    values_list: int
    security: int
    class_offset: int
    class_length: int
    name: str


#: NodeRecord's fields as a plain tuple
RawNode = tuple[int, int, int, int, int, int, int, int, int, int, int, int, str]
#: (name, type, data, vk offset, tombstone): the fields of `Value`, as a plain tuple
RawValue = tuple[str, int, bytes, int, bool]


class HiveImage:
    """A validated regf file kept as bytes; cell access with bounds checks."""

    def __init__(self, data: bytes, *, allow_dirty: bool = False) -> None:
        self.data = data
        self._check_header(allow_dirty)
        self._check_bins()

    # ---------------------------------------------------------------- header
    def _check_header(self, allow_dirty: bool) -> None:
        data = self.data
        if len(data) < BASE_BLOCK_SIZE + HBIN_SIZE_UNIT:
            if data[:4] != b"regf":
                raise FormatError("not a registry hive (no 'regf' signature)")
            raise FormatError(f"hive is truncated: {len(data)} bytes, a hive has at least 8192")
        if data[:4] != b"regf":
            raise FormatError("not a registry hive (no 'regf' signature)")
        (seq1, seq2, ts, major, minor, ftype, fformat, root, bins_size, _cl) = struct.unpack_from(
            "<IIQIIIIIII", data, 4
        )
        self.primary_sequence = seq1
        self.secondary_sequence = seq2
        self.timestamp = ts
        if major != 1:
            raise FormatError(f"unsupported hive format version {major}.{minor} (major must be 1)")
        if minor not in SUPPORTED_MINORS:
            raise FormatError(f"unsupported hive format version 1.{minor} (pebuild reads 1.2 to 1.6)")
        self.minor = minor
        if ftype != 0:
            raise FormatError(
                f"this is a transaction log or alternate file (file type {ftype}), not a primary hive"
            )
        if fformat != 1:
            raise FormatError(f"unsupported hive file format {fformat} (expected 1, direct memory load)")
        stored = _U32.unpack_from(data, CHECKSUM_OFFSET)[0]
        xor = plain_xor(data[:BASE_BLOCK_SIZE])
        adjusted = 0xFFFFFFFE if xor == 0xFFFFFFFF else (1 if xor == 0 else xor)
        if stored not in (xor, adjusted):
            raise FormatError(
                f"hive header checksum mismatch (stored 0x{stored:08x}, computed 0x{adjusted:08x}): "
                "the file is corrupt or was not closed cleanly"
            )
        if seq1 != seq2 and not allow_dirty:
            raise FormatError(
                f"hive is dirty (sequence numbers {seq1} != {seq2}): Windows did not finish writing it and "
                "its .LOG files would have to be replayed; pebuild does not replay logs, load and unload "
                "the hive on Windows (or open it read-only with allow_dirty) first"
            )
        if bins_size == 0 or bins_size % HBIN_SIZE_UNIT:
            raise FormatError(f"hive bins data size 0x{bins_size:x} is not a positive multiple of 4096")
        if BASE_BLOCK_SIZE + bins_size > len(data):
            raise FormatError(
                f"hive is truncated: header says {BASE_BLOCK_SIZE + bins_size} bytes, file has {len(data)}"
            )
        self.bins_size = bins_size
        if root >= bins_size or root % 8:
            raise FormatError(f"root cell offset 0x{root:x} is outside the hive bins")
        self.root_offset = root

    def _check_bins(self) -> None:
        data, pos, end = self.data, 0, self.bins_size
        first_ts = 0
        while pos < end:
            sig, off, size, _res, ts, _spare = HBIN.unpack_from(data, BASE_BLOCK_SIZE + pos)
            if sig != b"hbin":
                raise FormatError(f"hive bin at offset 0x{pos:x} has no 'hbin' signature")
            if off != pos:
                raise FormatError(f"hive bin at offset 0x{pos:x} says it is at 0x{off:x}")
            if size < HBIN_SIZE_UNIT or size % HBIN_SIZE_UNIT or pos + size > end:
                raise FormatError(f"hive bin at offset 0x{pos:x} has a bad size 0x{size:x}")
            if pos == 0:
                first_ts = ts
            pos += size
        self.first_bin_timestamp = first_ts

    # ----------------------------------------------------------------- cells
    def cell(self, offset: int, what: str) -> tuple[int, int]:
        """(file position of the cell data, data length) of the cell at `offset`."""
        if offset == NONE_OFFSET or offset % 8 or offset < HBIN_HEADER_SIZE or offset + 8 > self.bins_size:
            raise FormatError(f"{what} cell offset 0x{offset:x} is invalid")
        pos = BASE_BLOCK_SIZE + offset
        size = _I32.unpack_from(self.data, pos)[0]
        size = -size if size < 0 else size
        if size < 8 or size % 8 or offset + size > self.bins_size:
            raise FormatError(f"{what} cell at 0x{offset:x} has a bad size {size}")
        return pos + 4, size - 4

    def node(self, offset: int) -> RawNode:
        """The key node at `offset` as a plain tuple in NodeRecord's field order (see `values`)."""
        data = self.data
        if offset & 7 or offset < HBIN_HEADER_SIZE or offset + 4 + NK.size > self.bins_size:
            raise FormatError(f"key node cell offset 0x{offset:x} is invalid")
        pos = BASE_BLOCK_SIZE + offset
        (
            size,
            sig,
            flags,
            ts,
            access,
            parent,
            nsub,
            _nvol,
            sublist,
            _vollist,
            nval,
            vallist,
            security,
            class_off,
            _m1,
            _m2,
            _m3,
            _m4,
            _work,
            name_len,
            class_len,
        ) = NK_CELL.unpack_from(data, pos)
        if size < 0:
            size = -size
        if size & 7 or offset + size > self.bins_size or size < 8:
            raise FormatError(f"key node cell at 0x{offset:x} has a bad size {size}")
        if size < 4 + NK.size:
            raise FormatError(f"key node at 0x{offset:x} is too small")
        if sig != b"nk":
            raise FormatError(f"cell at 0x{offset:x} is not a key node (signature {sig!r})")
        start = pos + 4 + NK.size
        if start + name_len > pos + size:
            raise FormatError(f"key node at 0x{offset:x}: name runs past its cell")
        raw = data[start : start + name_len]
        name = raw.decode("latin-1") if flags & KEY_COMP_NAME else _utf16(raw, offset)
        return (
            offset,
            flags,
            ts,
            access,
            parent,
            nsub,
            sublist,
            nval,
            vallist,
            security,
            class_off,
            class_len,
            name,
        )

    def subkey_offsets(self, list_offset: int, expected: int) -> list[int]:
        """Key node offsets of an li/lf/lh list or an ri of such lists; their number must be
        the key's subkey count (hivex refuses a mismatch, Windows' checker too: S4 4120)."""
        if expected == 0:
            return []
        result: list[int] = []
        self._read_list(list_offset, result, nested=False)
        if len(result) != expected:
            raise FormatError(
                f"subkey list at 0x{list_offset:x} holds {len(result)} keys, its key node says {expected}"
            )
        return result

    def _read_list(self, offset: int, out: list[int], *, nested: bool) -> None:
        pos, length = self.cell(offset, "subkey list")
        sig, count = struct.unpack_from("<2sH", self.data, pos)
        data = self.data
        if sig == b"li" or sig == b"ri":
            if 4 + 4 * count > length:
                raise FormatError(f"subkey list at 0x{offset:x}: {count} entries do not fit its cell")
            entries = struct.unpack_from(f"<{count}I", data, pos + 4)
            if sig == b"li":
                out.extend(entries)
                return
            if nested:
                raise FormatError(f"index root at 0x{offset:x} points to another index root")
            for entry in entries:
                self._read_list(entry, out, nested=True)
            return
        if sig == b"lf" or sig == b"lh":
            if 4 + 8 * count > length:
                raise FormatError(f"subkey list at 0x{offset:x}: {count} entries do not fit its cell")
            out.extend(struct.unpack_from(f"<{2 * count}I", data, pos + 4)[0::2])
            return
        raise FormatError(f"cell at 0x{offset:x} is not a subkey list (signature {sig!r})")

    def values(self, list_offset: int, count: int) -> tuple[RawValue, ...]:
        """The values of a value list as plain `(name, type, data, vk offset, tombstone)` tuples
        (the field order of `Value`; `tuple.__new__(Value, raw)` makes one). Plain tuples,
        because the garbage collector stops tracking a tuple of atoms and a read hive keeps
        ~90k of them alive (docs/perf/hive.md); the tombstone flag counts for regf 1.6 only."""
        if count == 0:
            return ()
        data, end = self.data, self.bins_size
        if list_offset & 7 or list_offset < HBIN_HEADER_SIZE or list_offset + 8 > end:
            raise FormatError(f"value list cell offset 0x{list_offset:x} is invalid")
        pos = BASE_BLOCK_SIZE + list_offset
        length = _I32.unpack_from(data, pos)[0]
        if length < 0:
            length = -length
        if length & 7 or list_offset + length > end or 4 + 4 * count > length:
            raise FormatError(
                f"value list at 0x{list_offset:x}: {count} entries do not fit its {length}-byte cell"
            )
        pos += 4
        unpack_vk, unpack_i32, pack_u32 = VK_CELL.unpack_from, _I32.unpack_from, _U32.pack
        layered = self.minor >= 6
        out: list[RawValue] = []
        for vk in _u32_array(count).unpack_from(data, pos):
            if vk & 7 or vk < HBIN_HEADER_SIZE or vk + 4 + VK.size > end:
                raise FormatError(f"value cell offset 0x{vk:x} is invalid")
            cpos = BASE_BLOCK_SIZE + vk
            size, sig, name_len, dsize, data_off, vtype, flags, _spare = unpack_vk(data, cpos)
            if size < 0:
                size = -size
            if size & 7 or vk + size > end or size < 4 + VK.size:
                raise FormatError(f"value cell at 0x{vk:x} has a bad size {size} (a vk needs 24)")
            if sig != b"vk":
                raise FormatError(f"cell at 0x{vk:x} is not a value (signature {sig!r})")
            start = cpos + 4 + VK.size
            if start + name_len > cpos + size:
                raise FormatError(f"value at 0x{vk:x}: name runs past its cell")
            name = (
                data[start : start + name_len].decode("latin-1")
                if flags & VALUE_COMP_NAME
                else _utf16(data[start : start + name_len], vk)
            )
            if dsize & 0x80000000:
                dsize &= 0x7FFFFFFF
                if dsize > 4:
                    raise FormatError(f"value at 0x{vk:x}: inline data of {dsize} bytes (at most 4)")
                value_data = pack_u32(data_off)[:dsize]
            elif dsize == 0:
                value_data = b""
            else:
                if data_off & 7 or data_off < HBIN_HEADER_SIZE or data_off + 8 > end:
                    raise FormatError(f"value data cell offset 0x{data_off:x} is invalid")
                dpos = BASE_BLOCK_SIZE + data_off
                dlen = unpack_i32(data, dpos)[0]
                if dlen < 0:
                    dlen = -dlen
                if dsize <= dlen - 4 and dlen & 7 == 0 and data_off + dlen <= end:
                    value_data = data[dpos + 4 : dpos + 4 + dsize]
                else:
                    value_data = self._value_data(vk, dsize, data_off)
            out.append((name, vtype, value_data, vk, layered and flags & VALUE_TOMBSTONE != 0))
        return tuple(out)

    def value(self, offset: int) -> Value:
        """One vk cell (a value list of one)."""
        return self._single_value(offset)

    def _single_value(self, offset: int) -> Value:
        pos, length = self.cell(offset, "value")
        if length < VK.size:
            raise FormatError(f"value at 0x{offset:x} is too small")
        sig, name_len, size, data_off, vtype, flags, _spare = VK.unpack_from(self.data, pos)
        if sig != b"vk":
            raise FormatError(f"cell at 0x{offset:x} is not a value (signature {sig!r})")
        if VK.size + name_len > length:
            raise FormatError(f"value at 0x{offset:x}: name runs past its cell")
        raw = self.data[pos + VK.size : pos + VK.size + name_len]
        name = raw.decode("latin-1") if flags & VALUE_COMP_NAME else _utf16(raw, offset)
        if size & 0x80000000:
            size &= 0x7FFFFFFF
            if size > 4:
                raise FormatError(f"value at 0x{offset:x}: inline data of {size} bytes (at most 4)")
            value_data = _U32.pack(data_off)[:size]
        else:
            value_data = self._value_data(offset, size, data_off) if size else b""
        return Value(name, vtype, value_data, offset, self.minor >= 6 and bool(flags & VALUE_TOMBSTONE))

    def _value_data(self, vk: int, size: int, data_off: int) -> bytes:
        pos, length = self.cell(data_off, "value data")
        if size <= length:
            return self.data[pos : pos + size]
        if length >= DB.size and self.data[pos : pos + 2] == b"db":
            return self._big_data(vk, size, pos)
        raise FormatError(f"value at 0x{vk:x}: data size {size} exceeds its {length}-byte cell")

    def _big_data(self, vk: int, size: int, pos: int) -> bytes:
        _sig, nseg, seg_list = DB.unpack_from(self.data, pos)
        lpos, llen = self.cell(seg_list, "big data segment list")
        if 4 * nseg > llen:
            raise FormatError(f"value at 0x{vk:x}: big data segment list is too short")
        parts: list[bytes] = []
        remaining = size
        for seg in struct.unpack_from(f"<{nseg}I", self.data, lpos):
            spos, slen = self.cell(seg, "big data segment")
            take = min(remaining, slen, 16344)
            parts.append(self.data[spos : spos + take])
            remaining -= take
            if remaining <= 0:
                break
        if remaining > 0:
            raise FormatError(f"value at 0x{vk:x}: big data segments hold less than {size} bytes")
        return b"".join(parts)

    def class_name(self, offset: int, length: int) -> str | None:
        if offset == NONE_OFFSET or length == 0:
            return None
        pos, clen = self.cell(offset, "class name")
        if length > clen:
            raise FormatError(f"class name at 0x{offset:x} runs past its cell")
        return _utf16(self.data[pos : pos + length], offset)

    def security(self, offset: int) -> tuple[bytes, int, int, int]:
        """(descriptor, flink, blink, reference count) of an sk cell."""
        pos, length = self.cell(offset, "security")
        if length < SK.size:
            raise FormatError(f"security cell at 0x{offset:x} is too small")
        sig, _res, flink, blink, refs, sd_len = SK.unpack_from(self.data, pos)
        if sig != b"sk":
            raise FormatError(f"cell at 0x{offset:x} is not a security cell (signature {sig!r})")
        if SK.size + sd_len > length:
            raise FormatError(f"security cell at 0x{offset:x}: descriptor runs past its cell")
        return self.data[pos + SK.size : pos + SK.size + sd_len], flink, blink, refs


_ARRAYS: dict[int, struct.Struct] = {}


def _u32_array(count: int) -> struct.Struct:
    """A cached `struct.Struct` of `count` little-endian u32 (value lists are read by the thousand)."""
    fmt = _ARRAYS.get(count)
    if fmt is None:
        fmt = _ARRAYS[count] = struct.Struct(f"<{count}I")
    return fmt


def _utf16(raw: bytes, offset: int) -> str:
    if len(raw) % 2:
        raise FormatError(f"name at 0x{offset:x} has an odd UTF-16 length")
    return raw.decode("utf-16-le", "surrogatepass")
