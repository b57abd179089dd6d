"""The full structural check a hive must pass before pebuild writes it (S1, S4, formats.md §1.10).

The reader decodes lazily and only what is asked for, so damage away from the
edited key would go unnoticed, and the writer would put a fresh, valid header
over still-corrupt cells (preserve mode copies every bin). `check_image` walks
everything the writer carries over and raises FormatError naming the first
problem and its offset:

* bins: every cell tiles its bin exactly (size a multiple of 8, at least 8, not
  crossing the bin end) -- what hivex and Windows' HvCheckBin check;
* every offset the tree uses points at the start of an allocated cell;
* key nodes: signature, name inside the cell and not empty, parent pointer,
  depth <= 512, each node reached once (no cycle, no node with two parents);
* subkey lists: li/lf/lh, or an ri of those; entry count = the key's subkey
  count (S4 error 4120 / 4150); names strictly ascending in Windows' order and
  `lh` hashes right (a key Windows' binary search cannot find is lost; S1, S3
  write.c);
* values: list fits its cell, each vk valid, data inline (<= 4 bytes), in one cell,
  or a big-data (`db`) chain whose segments hold the whole size;
* security: every key's `sk` cell valid, the Flink/Blink ring from the root's
  cell closed and consistent and containing every used cell, no reference count
  below the number of keys using it (S4 cmchek2.c);
* class names inside their cells.

What Windows tolerates stays allowed (S5): allocated cells nothing points to,
duplicate value names, unused security cells in the ring, counts above the real
use, volatile-list fields (not used on disk).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pebuild.errors import FormatError
from pebuild.hive._structs import (
    BASE_BLOCK_SIZE,
    BIG_DATA_SEGMENT,
    HBIN_HEADER_SIZE,
    KEY_COMP_NAME,
    NK,
    NK_CELL,
    NONE_OFFSET,
    SK,
    VALUE_COMP_NAME,
    VALUE_TOMBSTONE,
    VK,
)
from pebuild.hive.reader import HiveImage
from pebuild.hive.upcase import lh_hash, lh_hash_units, upcase

MAX_DEPTH = 512
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_ALLOCATED, _FREE = 1, 2


@dataclass(frozen=True)
class CheckReport:
    """What the check saw (tests compare it with independent readers)."""

    keys: int
    values: int
    cells: int
    security_cells: int


def check_image(image: HiveImage) -> CheckReport:
    """Raise FormatError for the first structural problem of `image`; else a summary."""
    return _Checker(image).run()


class _Checker:
    def __init__(self, image: HiveImage) -> None:
        self.data = image.data
        self.size = image.bins_size
        self.minor = image.minor
        self.root = image.root_offset
        self.kind = bytearray(self.size // 8)  # per 8-byte slot: _ALLOCATED / _FREE at a cell start
        self.cells = 0

    def fail(self, message: str) -> FormatError:
        return FormatError(message)

    # ------------------------------------------------------------------ bins
    def map_cells(self) -> None:
        data, kind, end = self.data, self.kind, self.size
        unpack_i32 = _I32.unpack_from
        pos = 0
        count = 0
        while pos < end:
            bin_size = _U32.unpack_from(data, BASE_BLOCK_SIZE + pos + 8)[0]  # header checked by the reader
            bin_end = pos + bin_size
            cell = pos + HBIN_HEADER_SIZE
            while cell < bin_end:
                size = unpack_i32(data, BASE_BLOCK_SIZE + cell)[0]
                length = -size if size < 0 else size
                if length < 8 or length % 8:
                    raise self.fail(f"cell at 0x{cell:x} has a bad size {size} (hive bin at 0x{pos:x})")
                if cell + length > bin_end:
                    raise self.fail(f"cell at 0x{cell:x} ({length} bytes) crosses the end of its hive bin")
                kind[cell >> 3] = _ALLOCATED if size < 0 else _FREE
                count += 1
                cell += length
            pos = bin_end
        self.cells = count

    def cell(self, offset: int, what: str, owner: int = NONE_OFFSET) -> tuple[int, int]:
        """(file position of the cell data, its length) of an allocated cell, else FormatError."""
        if offset < self.size and not offset & 7 and self.kind[offset >> 3] == _ALLOCATED:
            pos = BASE_BLOCK_SIZE + offset
            return pos + 4, -_I32.unpack_from(self.data, pos)[0] - 4
        of = "" if owner == NONE_OFFSET else f" of 0x{owner:x}"
        if offset < self.size and offset % 8 == 0 and self.kind[offset >> 3] == _FREE:
            raise self.fail(f"{what}{of} at 0x{offset:x} is a free cell")
        raise self.fail(f"{what}{of}: offset 0x{offset:x} is not the start of a cell")

    # ------------------------------------------------------------------ tree
    def run(self) -> CheckReport:
        self.map_cells()
        data = self.data
        visited = bytearray(self.size // 8)
        sk_users: dict[int, int] = {}
        keys = values = 0
        kind, end = self.kind, self.size
        unpack_nk = NK_CELL.unpack_from
        stack: list[tuple[int, int, int]] = [(self.root, NONE_OFFSET, 0)]  # nk, parent, depth
        while stack:
            nk, parent, depth = stack.pop()
            if nk >= end or nk & 7 or kind[nk >> 3] != _ALLOCATED:
                self.cell(nk, "key node")  # raises with the reason
            if visited[nk >> 3]:
                raise self.fail(f"key node at 0x{nk:x} is reached twice (a cycle or a second parent)")
            visited[nk >> 3] = 1
            if depth > MAX_DEPTH:
                raise self.fail(f"key node at 0x{nk:x} is nested deeper than {MAX_DEPTH} levels")
            fields = unpack_nk(data, BASE_BLOCK_SIZE + nk)
            length = -fields[0] - 4
            if length < NK.size:
                raise self.fail(f"key node at 0x{nk:x} is too small")
            sig, _flags, _ts, _access, nk_parent, nsub, _nv, sublist = fields[1:9]
            nval, vallist, security, class_off = fields[10:14]
            name_len, class_len = fields[19], fields[20]
            if sig != b"nk":
                raise self.fail(f"cell at 0x{nk:x} is not a key node (signature {sig!r})")
            if name_len == 0 or NK.size + name_len > length:
                raise self.fail(f"key node at 0x{nk:x}: name length {name_len} does not fit its cell")
            if parent != NONE_OFFSET and nk_parent != parent:
                raise self.fail(
                    f"key node at 0x{nk:x} names 0x{nk_parent:x} as parent, it is listed under 0x{parent:x}"
                )
            keys += 1
            sk_users[security] = sk_users.get(security, 0) + 1
            if class_len and class_off != NONE_OFFSET:
                _cpos, clen = self.cell(class_off, "class name", nk)
                if class_len > clen:
                    raise self.fail(f"class name at 0x{class_off:x} runs past its cell")
            if nval:
                values += self.check_values(nk, vallist, nval)
            if nsub:
                children = self.subkey_list(nk, sublist, nsub)
                for child in reversed(children):
                    stack.append((child, nk, depth + 1))
        self.check_security(sk_users)
        return CheckReport(keys, values, self.cells, len(sk_users))

    def subkey_list(self, nk: int, offset: int, expected: int) -> list[int]:
        pos, length = self.cell(offset, "subkey list", nk)
        sig, count = struct.unpack_from("<2sH", self.data, pos)
        entries: list[int] = []
        if sig == b"ri":
            if 4 + 4 * count > length:
                raise self.fail(f"index root at 0x{offset:x}: {count} entries do not fit its cell")
            for leaf in struct.unpack_from(f"<{count}I", self.data, pos + 4):
                self.leaf(leaf, entries)
        else:
            self.leaf(offset, entries)
        if len(entries) != expected:
            raise self.fail(
                f"key node at 0x{nk:x} says {expected} subkeys, its subkey list at 0x{offset:x} holds {len(entries)}"
            )
        return entries

    def leaf(self, offset: int, out: list[int]) -> None:
        """Append a leaf's key nodes to `out`, checking Windows' order (across an ri too) and hashes."""
        pos, length = self.cell(offset, "subkey list")
        data = self.data
        sig, count = struct.unpack_from("<2sH", data, pos)
        if sig == b"li":
            if 4 + 4 * count > length:
                raise self.fail(f"subkey list at 0x{offset:x}: {count} entries do not fit its cell")
            entries = struct.unpack_from(f"<{count}I", data, pos + 4)
            hashes = None
        elif sig in (b"lf", b"lh"):
            if 4 + 8 * count > length:
                raise self.fail(f"subkey list at 0x{offset:x}: {count} entries do not fit its cell")
            pairs = struct.unpack_from(f"<{2 * count}I", data, pos + 4)
            entries = pairs[0::2]
            hashes = pairs[1::2] if sig == b"lh" else None
        elif sig == b"ri":
            raise self.fail(f"index root at 0x{offset:x} is inside another index root")
        else:
            raise self.fail(f"cell at 0x{offset:x} is not a subkey list (signature {sig!r})")
        previous = self.key_upper(out[-1]) if out else None
        key_name = self.key_name
        for i, nk in enumerate(entries):
            name = key_name(nk)
            upper = upcase(name)
            if previous is not None and upper <= previous:
                what = "twice" if upper == previous else "out of Windows' order"
                raise self.fail(f"subkey list at 0x{offset:x} lists {name!r} {what}")
            previous = upper
            if hashes is not None and lh_hash_units(upper) != hashes[i]:
                raise self.fail(
                    f"subkey list at 0x{offset:x}: the hash of {name!r} is 0x{hashes[i]:08x}, "
                    f"Windows computes 0x{lh_hash(name):08x}"
                )
        out.extend(entries)

    def key_upper(self, nk: int) -> str:
        return upcase(self.key_name(nk))

    def key_name(self, nk: int) -> str:
        data = self.data
        if nk >= self.size or nk & 7 or self.kind[nk >> 3] != _ALLOCATED:
            self.cell(nk, "subkey list entry")  # raises with the reason
        pos = BASE_BLOCK_SIZE + nk + 4
        length = -_I32.unpack_from(data, pos - 4)[0] - 4
        if length < NK.size or data[pos : pos + 2] != b"nk":
            raise self.fail(f"subkey list entry 0x{nk:x} is not a key node")
        flags = _U16.unpack_from(data, pos + 2)[0]
        name_len = _U16.unpack_from(data, pos + 72)[0]
        if NK.size + name_len > length:
            raise self.fail(f"key node at 0x{nk:x}: name runs past its cell")
        raw = data[pos + NK.size : pos + NK.size + name_len]
        if flags & KEY_COMP_NAME:
            return raw.decode("latin-1")
        if len(raw) % 2:
            raise self.fail(f"key node at 0x{nk:x}: odd UTF-16 name length")
        return raw.decode("utf-16-le", "surrogatepass")

    # ---------------------------------------------------------------- values
    def check_values(self, nk: int, offset: int, count: int) -> int:
        pos, length = self.cell(offset, "value list", nk)
        if 4 * count > length:
            raise self.fail(f"value list at 0x{offset:x}: {count} entries do not fit its cell")
        data, kind, end = self.data, self.kind, self.size
        unpack_vk, unpack_i32 = VK.unpack_from, _I32.unpack_from
        layered = self.minor >= 6
        for vk in struct.unpack_from(f"<{count}I", data, pos):
            if vk >= end or vk & 7 or kind[vk >> 3] != _ALLOCATED:
                self.cell(vk, "value", nk)  # raises with the reason
            vpos = BASE_BLOCK_SIZE + vk
            vlen = -unpack_i32(data, vpos)[0] - 4
            if vlen < VK.size:
                raise self.fail(f"value at 0x{vk:x} is too small")
            sig, name_len, size, data_off, _type, flags, _spare = unpack_vk(data, vpos + 4)
            if sig != b"vk":
                raise self.fail(f"cell at 0x{vk:x} is not a value (signature {sig!r})")
            if VK.size + name_len > vlen or (not flags & VALUE_COMP_NAME and name_len % 2):
                raise self.fail(f"value at 0x{vk:x}: name length {name_len} does not fit its cell")
            if size & 0x80000000:
                if size & 0x7FFFFFFF > 4:
                    raise self.fail(
                        f"value at 0x{vk:x}: inline data of {size & 0x7FFFFFFF} bytes (at most 4)"
                    )
            elif size and not (layered and flags & VALUE_TOMBSTONE and data_off == NONE_OFFSET):
                if data_off >= end or data_off & 7 or kind[data_off >> 3] != _ALLOCATED:
                    self.cell(data_off, "data", vk)
                if size > -unpack_i32(data, BASE_BLOCK_SIZE + data_off)[0] - 4:
                    self.check_data(vk, size, data_off)
        return count

    def check_data(self, vk: int, size: int, offset: int) -> None:
        pos, length = self.cell(offset, "data", vk)
        if size <= length:
            return
        if length < 8 or self.data[pos : pos + 2] != b"db":
            raise self.fail(
                f"value at 0x{vk:x}: data size {size} exceeds its {length}-byte cell at 0x{offset:x}"
            )
        _sig, nseg, seg_list = struct.unpack_from("<2sHI", self.data, pos)
        lpos, llen = self.cell(seg_list, "big data segment list", vk)
        if nseg == 0 or 4 * nseg > llen:
            raise self.fail(
                f"big data at 0x{offset:x}: {nseg} segments do not fit the list at 0x{seg_list:x}"
            )
        held = 0
        for seg in struct.unpack_from(f"<{nseg}I", self.data, lpos):
            _spos, slen = self.cell(seg, "big data segment", vk)
            held += min(slen, BIG_DATA_SEGMENT)
        if held < size:
            raise self.fail(f"value at 0x{vk:x}: big data segments hold {held} of {size} bytes")

    # -------------------------------------------------------------- security
    def check_security(self, users: dict[int, int]) -> None:
        data = self.data
        ring: dict[int, int] = {}  # sk -> reference count
        for sk in users:
            pos, length = self.cell(sk, "security cell")
            if length < SK.size:
                raise self.fail(f"security cell at 0x{sk:x} is too small")
            sig, _res, _flink, _blink, refs, sd_len = SK.unpack_from(data, pos)
            if sig != b"sk" or SK.size + sd_len > length:
                raise self.fail(f"security cell at 0x{sk:x} is not a valid sk cell")
            if refs < users[sk]:
                raise self.fail(
                    f"security cell at 0x{sk:x} counts {refs} references, {users[sk]} keys use it"
                )
            ring[sk] = refs
        start = next(iter(users))
        seen = {start}
        current = start
        limit = self.cells + 1
        while True:
            pos, _length = self.cell(current, "security cell")
            flink = _U32.unpack_from(data, pos + 4)[0]
            npos, nlen = self.cell(flink, "Flink", current)
            if nlen < SK.size or data[npos : npos + 2] != b"sk":
                raise self.fail(f"Flink of security cell 0x{current:x} points to 0x{flink:x}, not an sk cell")
            if _U32.unpack_from(data, npos + 8)[0] != current:
                raise self.fail(
                    f"security cell at 0x{flink:x}: its Blink does not point back to 0x{current:x}"
                )
            if flink == start:
                break
            if flink in seen or len(seen) > limit:
                raise self.fail(f"security cell list loops at 0x{flink:x} without closing")
            seen.add(flink)
            current = flink
        missing = [sk for sk in users if sk not in seen]
        if missing:
            raise self.fail(f"security cell at 0x{missing[0]:x} is not in the security cell list")
