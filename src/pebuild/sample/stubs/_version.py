"""A VS_VERSIONINFO resource (.rsrc section) for the PE stand-ins, so version readers see one.

Layout from the PE/COFF spec (resource directory table, 3 levels: type RT_VERSION,
name 1, language 0x409) and the VS_VERSIONINFO / StringFileInfo / VarFileInfo
records of the Win32 docs; every record is 32-bit aligned.
"""

from __future__ import annotations

import struct

RT_VERSION = 16
LANG_EN_US = 0x0409
CODEPAGE_UNICODE = 0x04B0
VS_FFI_SIGNATURE = 0xFEEF04BD
VOS_NT_WINDOWS32 = 0x00040004
VFT_APP, VFT_DLL = 1, 2


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _record(key: str, value: bytes, value_length: int, wtype: int, children: bytes = b"") -> bytes:
    """One version record: wLength, wValueLength, wType, szKey, padding, Value, padding, Children."""
    head = struct.pack("<HHH", 0, value_length, wtype) + (key + "\0").encode("utf-16-le")
    body = _pad4(head) + (_pad4(value) if children else value)
    body = (_pad4(body) + children) if children else body
    return struct.pack("<H", len(body)) + body[2:]


def version_info(name: str, version: tuple[int, int, int, int], dll: bool) -> bytes:
    major, minor, build, revision = version
    text = f"{major}.{minor}.{build}.{revision}"
    fixed = struct.pack(
        "<13I",
        VS_FFI_SIGNATURE,  # dwSignature
        0x00010000,  # dwStrucVersion
        (major << 16) | minor,  # dwFileVersionMS
        (build << 16) | revision,  # dwFileVersionLS
        (major << 16) | minor,  # dwProductVersionMS
        (build << 16) | revision,  # dwProductVersionLS
        0x3F,  # dwFileFlagsMask
        0,  # dwFileFlags
        VOS_NT_WINDOWS32,  # dwFileOS
        VFT_DLL if dll else VFT_APP,  # dwFileType
        0,  # dwFileSubtype
        0,  # dwFileDateMS
        0,  # dwFileDateLS
    )
    strings = {
        "CompanyName": "pebuild sample source (not Microsoft)",
        "FileDescription": f"pebuild stand-in for {name}",
        "FileVersion": text,
        "InternalName": name,
        "OriginalFilename": name,
        "ProductName": "pebuild sample source",
        "ProductVersion": text,
    }
    entries = b"".join(
        _pad4(_record(key, (value + "\0").encode("utf-16-le"), len(value) + 1, 1))
        for key, value in strings.items()
    )
    table = _record(f"{LANG_EN_US:04X}{CODEPAGE_UNICODE:04X}", b"", 0, 1, entries)
    string_file_info = _record("StringFileInfo", b"", 0, 1, _pad4(table))
    var = _record("Translation", struct.pack("<HH", LANG_EN_US, CODEPAGE_UNICODE), 4, 0)
    var_file_info = _record("VarFileInfo", b"", 0, 1, _pad4(var))
    return _record("VS_VERSION_INFO", fixed, len(fixed), 0, _pad4(string_file_info) + var_file_info)


def resource_section(rva: int, info: bytes) -> bytes:
    """The .rsrc section bytes for one RT_VERSION/1/0x409 resource placed at `rva`."""

    def directory(entry_id: int, target: int) -> bytes:
        # IMAGE_RESOURCE_DIRECTORY (no named entries, one ID entry) + IMAGE_RESOURCE_DIRECTORY_ENTRY
        return struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", entry_id, target)

    data_offset = 3 * 24 + 16
    tree = directory(RT_VERSION, 0x80000000 | 24) + directory(1, 0x80000000 | 48) + directory(LANG_EN_US, 72)
    tree += struct.pack("<IIII", rva + data_offset, len(info), 0, 0)  # IMAGE_RESOURCE_DATA_ENTRY
    assert len(tree) == data_offset
    return tree + info
