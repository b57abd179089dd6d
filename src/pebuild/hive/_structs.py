"""On-disk records of a regf hive, named after the specification (S1, S2; formats.md §1).

The construct Structs below are the single declaration of each record: field
names are snake_case of the spec's names, each with its `# +0x..` offset. They
are used for the base block, hive-bin headers and security cells, and tests
check that they agree with the `struct` formats next to them.

Why two views: walking a 30 MB hive with ~200k keys means parsing ~1M cells;
construct costs tens of microseconds per record, `struct.unpack_from` well
under one. So the hot paths (nk, vk, lists) use the precompiled `struct`
formats `NK`, `VK`, ... whose field order is exactly the construct record's.
"""

from __future__ import annotations

import struct

from construct import (
    Bytes,
    Const,
    Int16ul,
    Int32sl,
    Int32ul,
    Int64ul,
    Struct,
    this,
)

BASE_BLOCK_SIZE = 4096
HBIN_SIZE_UNIT = 4096
HBIN_HEADER_SIZE = 32
CHECKSUM_OFFSET = 508
NONE_OFFSET = 0xFFFFFFFF
BIG_DATA_SEGMENT = 16344  # S1: a db segment holds at most 16344 bytes

# --- base block (S1 "Base block") -------------------------------------------------
BaseBlock = Struct(
    "signature" / Const(b"regf"),  # +0x000
    "primary_sequence_number" / Int32ul,  # +0x004
    "secondary_sequence_number" / Int32ul,  # +0x008
    "last_written_timestamp" / Int64ul,  # +0x00C FILETIME
    "major_version" / Int32ul,  # +0x014
    "minor_version" / Int32ul,  # +0x018
    "file_type" / Int32ul,  # +0x01C 0 = primary
    "file_format" / Int32ul,  # +0x020 1 = direct memory load
    "root_cell_offset" / Int32ul,  # +0x024
    "hive_bins_data_size" / Int32ul,  # +0x028
    "clustering_factor" / Int32ul,  # +0x02C
    "file_name" / Bytes(64),  # +0x030 UTF-16LE, debug only
    "rm_id" / Bytes(16),  # +0x070
    "log_id" / Bytes(16),  # +0x080
    "flags" / Int32ul,  # +0x090
    "tm_id" / Bytes(16),  # +0x094
    "guid_signature" / Bytes(4),  # +0x0A4 'rmtm' or zero
    "last_reorganized_timestamp" / Int64ul,  # +0x0A8
    "reserved" / Bytes(332),  # +0x0B0
    "checksum" / Int32ul,  # +0x1FC XOR of the dwords at 0..507
    "reserved_2" / Bytes(3576),  # +0x200
    "boot_type" / Int32ul,  # +0xFF8
    "boot_recover" / Int32ul,  # +0xFFC
)

# --- hive bin header (S1 "Hive bin") -----------------------------------------------
HiveBinHeader = Struct(
    "signature" / Const(b"hbin"),  # +0x00
    "offset" / Int32ul,  # +0x04 from the start of the hive bins data
    "size" / Int32ul,  # +0x08 multiple of 4096
    "reserved" / Bytes(8),  # +0x0C
    "timestamp" / Int64ul,  # +0x14 first bin only
    "spare" / Int32ul,  # +0x1C
)

# --- cells (offsets below are inside the cell data, after the 4-byte size) -------
CellHeader = Struct("size" / Int32sl)  # negative = allocated

KeyNode = Struct(
    "signature" / Const(b"nk"),  # +0x00
    "flags" / Int16ul,  # +0x02
    "last_written_timestamp" / Int64ul,  # +0x04
    "access_bits" / Int32ul,  # +0x0C
    "parent" / Int32ul,  # +0x10
    "number_of_subkeys" / Int32ul,  # +0x14
    "number_of_volatile_subkeys" / Int32ul,  # +0x18
    "subkeys_list_offset" / Int32ul,  # +0x1C
    "volatile_subkeys_list_offset" / Int32ul,  # +0x20
    "number_of_key_values" / Int32ul,  # +0x24
    "key_values_list_offset" / Int32ul,  # +0x28
    "key_security_offset" / Int32ul,  # +0x2C
    "class_name_offset" / Int32ul,  # +0x30
    "largest_subkey_name_length" / Int32ul,  # +0x34
    "largest_subkey_class_name_length" / Int32ul,  # +0x38
    "largest_value_name_length" / Int32ul,  # +0x3C
    "largest_value_data_size" / Int32ul,  # +0x40
    "workvar" / Int32ul,  # +0x44
    "key_name_length" / Int16ul,  # +0x48
    "class_name_length" / Int16ul,  # +0x4A
    "key_name_string" / Bytes(this.key_name_length),  # +0x4C
)

KeyValue = Struct(
    "signature" / Const(b"vk"),  # +0x00
    "name_length" / Int16ul,  # +0x02
    "data_size" / Int32ul,  # +0x04 bit 31 = data stored in data_offset
    "data_offset" / Int32ul,  # +0x08
    "data_type" / Int32ul,  # +0x0C
    "flags" / Int16ul,  # +0x10 1 = ASCII name
    "spare" / Int16ul,  # +0x12
    "value_name_string" / Bytes(this.name_length),  # +0x14
)

KeySecurity = Struct(
    "signature" / Const(b"sk"),  # +0x00
    "reserved" / Int16ul,  # +0x02
    "flink" / Int32ul,  # +0x04
    "blink" / Int32ul,  # +0x08
    "reference_count" / Int32ul,  # +0x0C
    "security_descriptor_size" / Int32ul,  # +0x10
    "security_descriptor" / Bytes(this.security_descriptor_size),  # +0x14
)

IndexLeaf = Struct(  # li
    "signature" / Const(b"li"),  # +0x00
    "number_of_elements" / Int16ul,  # +0x02
    "elements" / Int32ul[this.number_of_elements],  # +0x04 key node offsets
)

FastLeafElement = Struct("key_node_offset" / Int32ul, "name_hint" / Bytes(4))
FastLeaf = Struct(  # lf
    "signature" / Const(b"lf"),  # +0x00
    "number_of_elements" / Int16ul,  # +0x02
    "elements" / FastLeafElement[this.number_of_elements],  # +0x04
)

HashLeafElement = Struct("key_node_offset" / Int32ul, "name_hash" / Int32ul)
HashLeaf = Struct(  # lh
    "signature" / Const(b"lh"),  # +0x00
    "number_of_elements" / Int16ul,  # +0x02
    "elements" / HashLeafElement[this.number_of_elements],  # +0x04
)

IndexRoot = Struct(  # ri
    "signature" / Const(b"ri"),  # +0x00
    "number_of_elements" / Int16ul,  # +0x02
    "elements" / Int32ul[this.number_of_elements],  # +0x04 subkeys list offsets
)

BigData = Struct(  # db
    "signature" / Const(b"db"),  # +0x00
    "number_of_segments" / Int16ul,  # +0x02
    "segments_list_offset" / Int32ul,  # +0x04
)

# --- transaction logs (S1 "Format of transaction log files") ---------------------
LogEntryHeader = Struct(  # new format (Windows 8.1+), at a 512-byte boundary after the base block
    "signature" / Const(b"HvLE"),  # +0x00
    "size" / Int32ul,  # +0x04 whole entry, a multiple of 512
    "flags" / Int32ul,  # +0x08 bit 0 = the base block's KTM flag
    "sequence_number" / Int32ul,  # +0x0C
    "hive_bins_data_size" / Int32ul,  # +0x10
    "dirty_pages_count" / Int32ul,  # +0x14
    "hash_1" / Int64ul,  # +0x18 Marvin32 of bytes 40..size
    "hash_2" / Int64ul,  # +0x20 Marvin32 of bytes 0..32
)
DirtyPageReference = Struct("offset" / Int32ul, "size" / Int32ul)  # offset relative to the bins
DirtyVectorHeader = Struct("signature" / Const(b"DIRT"))  # old format, at offset 512, then the bitmap

# --- fast views with the same field order -----------------------------------------
NK = struct.Struct("<2sHQ15IHH")  # KeyNode without the name: 76 bytes
VK = struct.Struct("<2sHIIIHH")  # KeyValue without the name: 20 bytes
NK_CELL = struct.Struct("<i2sHQ15IHH")  # cell size + NK, one unpack on the hot path
VK_CELL = struct.Struct("<i2sHIIIHH")  # cell size + VK
SK = struct.Struct("<2sHIIII")  # KeySecurity head: 20 bytes
LIST_HEAD = struct.Struct("<2sH")
HBIN = struct.Struct("<4sII8sQI")
DB = struct.Struct("<2sHI")
HVLE = struct.Struct("<4sIIIIIQQ")  # LogEntryHeader: 40 bytes
PAGE_REF = struct.Struct("<II")

# nk flags (S1)
KEY_VOLATILE = 0x0001
KEY_HIVE_EXIT = 0x0002
KEY_HIVE_ENTRY = 0x0004
KEY_NO_DELETE = 0x0008
KEY_SYM_LINK = 0x0010
KEY_COMP_NAME = 0x0020
VALUE_COMP_NAME = 0x0001
VALUE_TOMBSTONE = 0x0002  # regf 1.6 layered keys: the value is deleted in this layer
# nk access bits, second byte (regf 1.6, Windows 10 RS1+): bit 7 inherit class, bits 0-1 layer semantics
LAYER_SEMANTICS_MASK = 0x0300
LAYER_TOMBSTONE = 0x0100  # IsTombstone: the key is deleted in this layer

# file types (base block +0x1C)
FILE_TYPE_PRIMARY = 0
FILE_TYPE_LOG_OLD = 1  # Windows XP .. 8 (2 in Windows 2000)
FILE_TYPE_LOG_VERYOLD = 2
FILE_TYPE_LOG_NEW = 6  # Windows 8.1+ HvLE entries


def header_checksum(base_block: bytes) -> int:
    """XOR of the 127 dwords at 0..507, with the 0 -> 1 and 0xFFFFFFFF -> 0xFFFFFFFE rule (S1 note 2)."""
    value = 0
    for (dword,) in struct.iter_unpack("<I", bytes(base_block[:CHECKSUM_OFFSET])):
        value ^= dword
    if value == 0xFFFFFFFF:
        return 0xFFFFFFFE
    if value == 0:
        return 1
    return value


def plain_xor(base_block: bytes) -> int:
    value = 0
    for (dword,) in struct.iter_unpack("<I", bytes(base_block[:CHECKSUM_OFFSET])):
        value ^= dword
    return value
