"""Reading a regf image: header checks up front, cells on demand (S1, S2, S3; formats.md §1).

`HiveImage.open_bytes` validates what hivex and Windows validate before trusting
a file (size, `regf`, version, file type, checksum, sequence numbers, every bin
header); key nodes, lists and values are decoded lazily when the model asks.
Every malformed structure becomes `FormatError`: offsets are bounds-checked,
counts are bounded by their cell size, index roots may not nest, so a hostile
file can neither crash nor hang the reader.
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
    NONE_OFFSET,
    SK,
    VALUE_COMP_NAME,
    VK,
    plain_xor,
)

_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
SUPPORTED_MINORS = (2, 3, 4, 5, 6)


class NodeRecord(NamedTuple):
    """The fields of an nk cell the model needs (offsets relative to the bins data)."""

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


class RawValue(NamedTuple):
    name: str
    type: int
    data: bytes
    offset: int  # the vk cell


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

    def node(self, offset: int) -> NodeRecord:
        pos, length = self.cell(offset, "key node")
        if length < NK.size:
            raise FormatError(f"key node at 0x{offset:x} is too small")
        (
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
        ) = NK.unpack_from(self.data, pos)
        if sig != b"nk":
            raise FormatError(f"cell at 0x{offset:x} is not a key node (signature {sig!r})")
        if NK.size + name_len > length:
            raise FormatError(f"key node at 0x{offset:x}: name runs past its cell")
        raw = self.data[pos + NK.size : pos + NK.size + name_len]
        name = raw.decode("latin-1") if flags & KEY_COMP_NAME else _utf16(raw, offset)
        return NodeRecord(
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
        """Key node offsets of an li/lf/lh list or an ri of such lists."""
        if expected == 0 and list_offset == NONE_OFFSET:
            return []
        result: list[int] = []
        self._read_list(list_offset, result, nested=False)
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

    def values(self, list_offset: int, count: int) -> list[RawValue]:
        if count == 0:
            return []
        pos, length = self.cell(list_offset, "value list")
        if 4 * count > length:
            raise FormatError(f"value list at 0x{list_offset:x}: {count} entries do not fit its cell")
        return [self.value(vk) for vk in struct.unpack_from(f"<{count}I", self.data, pos)]

    def value(self, offset: int) -> RawValue:
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
        return RawValue(name, vtype, self._value_data(offset, size, data_off), offset)

    def _value_data(self, vk: int, size: int, data_off: int) -> bytes:
        if size & 0x80000000:
            size &= 0x7FFFFFFF
            if size > 4:
                raise FormatError(f"value at 0x{vk:x}: inline data of {size} bytes (at most 4)")
            return _U32.pack(data_off)[:size]
        if size == 0:
            return b""
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


def _utf16(raw: bytes, offset: int) -> str:
    if len(raw) % 2:
        raise FormatError(f"name at 0x{offset:x} has an odd UTF-16 length")
    return raw.decode("utf-16-le", "surrogatepass")
