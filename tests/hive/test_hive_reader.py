"""The hand-tuned struct reader against a reader built from the construct declarations.

`_structs.py` declares every record once with construct; `reader.py` reads the hot
records with precompiled `struct` formats and inlined bounds checks (the full-walk
benchmark in docs/perf/hive.md). Here a slow reference reader written only with the
construct Structs decodes the same fixture hives, and every key node, value list,
value, subkey list and log entry header must come out the same.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from _helpers import BCD_FIXTURES, HIVE_FIXTURES, hive_fixture
from pebuild.hive import Hive
from pebuild.hive._structs import (
    HVLE,
    BigData,
    FastLeaf,
    HashLeaf,
    IndexLeaf,
    IndexRoot,
    KeyNode,
    KeySecurity,
    KeyValue,
    LogEntryHeader,
)

pytestmark = pytest.mark.skipif(not HIVE_FIXTURES.is_dir(), reason=f"hive fixtures not at {HIVE_FIXTURES}")

#: fixtures read key by key (the big SYSTEM hives: their first 3000 keys, construct is slow)
FIXTURES = [
    "hivex-special",
    "regipy-BCD",
    "regipy-NTUSER.DAT",
    "regipy-SAM",
    "regipy-UsrClass.dat",
    "regipy-SYSTEM_WIN_10_1709",
    "yarp-BigDataHive",
    "yarp-ManySubkeysHive",
    "yarp-System_Delta",
    "yarp-UnicodeHive",
]
LIMIT = 3000


class ConstructReader:
    """Reads cells only through the construct Structs (no bounds checks: fixtures are sane)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.minor = struct.unpack_from("<I", data, 24)[0]

    def cell(self, offset: int) -> bytes:
        pos = 4096 + offset
        size = abs(struct.unpack_from("<i", self.data, pos)[0])
        return self.data[pos + 4 : pos + size]

    def node(self, offset: int) -> tuple:
        nk = KeyNode.parse(self.cell(offset))
        raw = nk.key_name_string
        name = raw.decode("latin-1") if nk.flags & 0x20 else raw.decode("utf-16-le", "surrogatepass")
        return (
            offset,
            nk.flags,
            nk.last_written_timestamp,
            nk.access_bits,
            nk.parent,
            nk.number_of_subkeys,
            nk.subkeys_list_offset,
            nk.number_of_key_values,
            nk.key_values_list_offset,
            nk.key_security_offset,
            nk.class_name_offset,
            nk.class_name_length,
            name,
        )

    def subkeys(self, offset: int) -> list[int]:
        cell = self.cell(offset)
        kind = cell[:2]
        if kind == b"ri":
            return [o for leaf in IndexRoot.parse(cell).elements for o in self.subkeys(leaf)]
        if kind == b"li":
            return list(IndexLeaf.parse(cell).elements)
        leaf = (FastLeaf if kind == b"lf" else HashLeaf).parse(cell)
        return [e.key_node_offset for e in leaf.elements]

    def values(self, offset: int, count: int) -> tuple:
        if not count:
            return ()
        offsets = struct.unpack_from(f"<{count}I", self.cell(offset))
        out = []
        for vk_offset in offsets:
            vk = KeyValue.parse(self.cell(vk_offset))
            raw = vk.value_name_string
            name = raw.decode("latin-1") if vk.flags & 1 else raw.decode("utf-16-le", "surrogatepass")
            size = vk.data_size & 0x7FFFFFFF
            if vk.data_size & 0x80000000:
                data = struct.pack("<I", vk.data_offset)[:size]
            elif size == 0:
                data = b""
            else:
                cell = self.cell(vk.data_offset)
                if size > len(cell) and cell[:2] == b"db":
                    db = BigData.parse(cell)
                    segs = struct.unpack_from(
                        f"<{db.number_of_segments}I", self.cell(db.segments_list_offset)
                    )
                    data = b"".join(self.cell(s)[:16344] for s in segs)[:size]
                else:
                    data = cell[:size]
            out.append((name, vk.data_type, data, vk_offset, self.minor >= 6 and bool(vk.flags & 2)))
        return tuple(out)

    def descriptor(self, offset: int) -> bytes:
        return KeySecurity.parse(self.cell(offset)).security_descriptor


def _path(name: str, tmp_path: Path) -> Path:
    return BCD_FIXTURES / name[4:] if name.startswith("bcd/") else hive_fixture(name, tmp_path)


@pytest.mark.parametrize("name", [*FIXTURES, "bcd/win10-setup-efi.bcd"])
def test_struct_reader_equals_construct_reader(name: str, tmp_path: Path) -> None:
    hive = Hive.open(_path(name, tmp_path), allow_dirty=True)
    image = hive._image
    assert image is not None
    ref = ConstructReader(image.data)
    seen = 0
    for key in hive.root.walk():
        rec = key._rec
        assert rec is not None
        assert image.node(rec[0]) == ref.node(rec[0])
        if rec[5]:
            assert image.subkey_offsets(rec[6], rec[5]) == ref.subkeys(rec[6])
        assert image.values(rec[8], rec[7]) == ref.values(rec[8], rec[7])
        assert key.security_descriptor() == ref.descriptor(rec[9])
        seen += 1
        if seen >= LIMIT:
            break
    assert seen == min(LIMIT, sum(1 for _ in Hive.open(_path(name, tmp_path), allow_dirty=True).root.walk()))


@pytest.mark.parametrize(
    "name", ["yarp-NewDirtyHive", "regipy-UsrClass.dat", "regipy-transactions_NTUSER.DAT"]
)
def test_log_entry_header_views_agree(name: str, tmp_path: Path) -> None:
    path = hive_fixture(name, tmp_path)
    entries = 0
    for log in sorted(p for p in tmp_path.iterdir() if p != path):
        data = log.read_bytes()
        pos = 512
        while pos + 40 <= len(data) and data[pos : pos + 4] == b"HvLE":
            parsed = LogEntryHeader.parse(data[pos : pos + 40])
            fast = HVLE.unpack_from(data, pos)
            assert fast == (
                b"HvLE",
                parsed.size,
                parsed.flags,
                parsed.sequence_number,
                parsed.hive_bins_data_size,
                parsed.dirty_pages_count,
                parsed.hash_1,
                parsed.hash_2,
            )
            entries += 1
            if parsed.size < 512:
                break
            pos += parsed.size
    assert entries > 0
