"""A minimal PE/COFF image writer for the sample's boot programs and tool stand-ins.

One `.text` section holding code and data, no imports, no relocations (the
code is position independent) and RELOCS_STRIPPED *not* set, so EDK2 may load
the image anywhere (qemu.md §2b). Field names follow the PE/COFF spec
(Microsoft "PE Format"), as pefile spells them, so tests can compare
one-to-one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMAGE_FILE_MACHINE = {"x86": 0x014C, "amd64": 0x8664, "arm64": 0xAA64, "ia64": 0x0200}

IMAGE_SUBSYSTEM = {
    "native": 1,
    "windows": 2,
    "console": 3,
    "efi_application": 10,
    "efi_boot_service_driver": 11,
    "efi_runtime_driver": 12,
    "boot_application": 16,  # IMAGE_SUBSYSTEM_WINDOWS_BOOT_APPLICATION: bootmgr.exe, winload.exe
}

# IMAGE_FILE_* characteristics
_EXECUTABLE_IMAGE = 0x0002
_LINE_NUMS_STRIPPED = 0x0004
_LOCAL_SYMS_STRIPPED = 0x0008
_LARGE_ADDRESS_AWARE = 0x0020
_32BIT_MACHINE = 0x0100
_DEBUG_STRIPPED = 0x0200
# IMAGE_DLLCHARACTERISTICS_*
_NX_COMPAT = 0x0100
_TERMINAL_SERVER_AWARE = 0x8000
# IMAGE_SCN_*
_CNT_CODE = 0x00000020
_CNT_INITIALIZED_DATA = 0x00000040
_MEM_EXECUTE = 0x20000000
_MEM_READ = 0x40000000

FILE_ALIGNMENT = 0x200
SECTION_ALIGNMENT = 0x1000
_E_LFANEW = 0x80


def _align(value: int, to: int) -> int:
    return (value + to - 1) // to * to


@dataclass(frozen=True)
class PeImage:
    """What goes into one image: machine type, subsystem and the .text bytes."""

    arch: str
    subsystem: int
    text: bytes
    entry: int = 0  # offset of the entry point inside .text
    version_info: bytes | None = None  # VS_VERSIONINFO for a .rsrc section
    #: code for the DOS-stub area (file offset 0x40, before the PE header), replacing the DOS stub:
    #: the sample bootmgr.exe keeps its real-mode PXE entry there (pxeboot.asm jumps to it)
    dos_stub: bytes | None = None
    dos_signature: bytes = b""  # up to 20 bytes at 0x28 (e_res2), e.g. b"PBRM"

    @property
    def pe32plus(self) -> bool:
        return self.arch != "x86"


def pe_checksum(data: bytes, checksum_offset: int) -> int:
    """The PE optional-header CheckSum (16-bit one's-complement sum + file length, as imagehlp)."""
    total = 0
    padded = data + b"\0" * (len(data) % 2)
    for (word,) in struct.iter_unpack("<H", padded):
        total += word
    # the CheckSum field itself counts as zero
    total -= struct.unpack_from("<H", padded, checksum_offset)[0]
    total -= struct.unpack_from("<H", padded, checksum_offset + 2)[0]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def _dos_header(stub: bytes | None = None, signature: bytes = b"") -> bytes:
    """IMAGE_DOS_HEADER with the classic values and a DOS stub that prints and exits (or `stub`)."""
    header = bytearray(0x40)
    struct.pack_into(
        "<2s13H",
        header,
        0,
        b"MZ",  # e_magic
        0x90,  # e_cblp
        3,  # e_cp
        0,  # e_crlc
        4,  # e_cparhdr
        0,  # e_minalloc
        0xFFFF,  # e_maxalloc
        0,  # e_ss
        0xB8,  # e_sp
        0,  # e_csum
        0,  # e_ip
        0,  # e_cs
        0x40,  # e_lfarlc
        0,  # e_ovno
    )
    lfanew = _E_LFANEW if stub is None else _align(0x40 + len(stub), 8)
    struct.pack_into("<I", header, 0x3C, lfanew)  # e_lfanew
    header[0x28 : 0x28 + len(signature)] = signature[:20]  # e_res2
    if stub is not None:
        return bytes(header) + stub.ljust(lfanew - 0x40, b"\0")
    # DOS stub: push cs; pop ds; mov dx, msg; mov ah, 9; int 21h; mov ax, 4C01h; int 21h
    stub = bytes.fromhex("0e1fba0e00b409cd21b8014ccd21") + b"This program cannot be run in DOS mode.\r\r\n$"
    return bytes(header) + stub.ljust(_E_LFANEW - 0x40, b"\0")


def build_pe(image: PeImage) -> bytes:
    """Serialize `image` as a PE32 (x86) or PE32+ (others) file."""
    machine = IMAGE_FILE_MACHINE[image.arch]
    efi = image.subsystem in (10, 11, 12)
    dos = _dos_header(image.dos_stub, image.dos_signature)
    lfanew = struct.unpack_from("<I", dos, 0x3C)[0]
    headers_size = _align(len(dos) + 24 + (240 if image.pe32plus else 224) + 80, FILE_ALIGNMENT)
    assert headers_size <= SECTION_ALIGNMENT, "DOS stub too large for the first page"
    text_raw = _align(max(len(image.text), 1), FILE_ALIGNMENT)
    text_rva = SECTION_ALIGNMENT
    rsrc_rva = text_rva + _align(max(len(image.text), 1), SECTION_ALIGNMENT)
    rsrc = b""
    if image.version_info is not None:
        from pebuild.sample.stubs._version import resource_section

        rsrc = resource_section(rsrc_rva, image.version_info)
    rsrc_raw = _align(len(rsrc), FILE_ALIGNMENT) if rsrc else 0
    size_of_image = rsrc_rva + (_align(len(rsrc), SECTION_ALIGNMENT) if rsrc else 0)
    opt_size = 240 if image.pe32plus else 224
    characteristics = _EXECUTABLE_IMAGE | _LINE_NUMS_STRIPPED | _LOCAL_SYMS_STRIPPED | _DEBUG_STRIPPED
    characteristics |= _LARGE_ADDRESS_AWARE if image.pe32plus else _32BIT_MACHINE
    coff = struct.pack(
        "<4sHHIIIHH",
        b"PE\0\0",
        machine,  # Machine
        2 if rsrc else 1,  # NumberOfSections
        0,  # TimeDateStamp: fixed, the sample is reproducible
        0,  # PointerToSymbolTable
        0,  # NumberOfSymbols
        opt_size,  # SizeOfOptionalHeader
        characteristics,
    )
    if efi:
        image_base = 0
        os_version = subsystem_version = (0, 0)
        dll_characteristics = 0
    else:
        image_base = 0x140000000 if image.pe32plus else 0x400000
        os_version = subsystem_version = (6, 1)
        dll_characteristics = _NX_COMPAT | _TERMINAL_SERVER_AWARE
    head = struct.pack(
        "<HBBIIII",
        0x20B if image.pe32plus else 0x10B,  # Magic
        14,  # MajorLinkerVersion
        0,  # MinorLinkerVersion
        text_raw,  # SizeOfCode
        rsrc_raw,  # SizeOfInitializedData
        0,  # SizeOfUninitializedData
        text_rva + image.entry,  # AddressOfEntryPoint
    )
    head += struct.pack("<I", text_rva)  # BaseOfCode
    if image.pe32plus:
        head += struct.pack("<Q", image_base)  # ImageBase
    else:
        head += struct.pack("<II", 0, image_base)  # BaseOfData, ImageBase
    head += struct.pack(
        "<IIHHHHHHIIIIHH",
        SECTION_ALIGNMENT,  # SectionAlignment
        FILE_ALIGNMENT,  # FileAlignment
        *os_version,  # Major/MinorOperatingSystemVersion
        0,  # MajorImageVersion
        0,  # MinorImageVersion
        *subsystem_version,  # Major/MinorSubsystemVersion
        0,  # Win32VersionValue
        size_of_image,  # SizeOfImage
        headers_size,  # SizeOfHeaders
        0,  # CheckSum (filled below)
        image.subsystem,  # Subsystem
        dll_characteristics,  # DllCharacteristics
    )
    stack_heap = (0x100000, 0x1000, 0x100000, 0x1000)  # SizeOfStack/HeapReserve/Commit
    head += struct.pack("<QQQQ" if image.pe32plus else "<IIII", *stack_heap)
    head += struct.pack("<II", 0, 16)  # LoaderFlags, NumberOfRvaAndSizes
    # DataDirectory: no imports or relocations; [2] RESOURCE when there is a version resource
    head += bytes(2 * 8) + struct.pack("<II", rsrc_rva if rsrc else 0, len(rsrc)) + bytes(13 * 8)
    assert len(head) == opt_size
    section = struct.pack(
        "<8sIIIIIIHHI",
        b".text",
        len(image.text),  # VirtualSize
        text_rva,  # VirtualAddress
        text_raw,  # SizeOfRawData
        headers_size,  # PointerToRawData
        0,
        0,
        0,
        0,
        _CNT_CODE | _MEM_EXECUTE | _MEM_READ,
    )
    if rsrc:
        section += struct.pack(
            "<8sIIIIIIHHI",
            b".rsrc",
            len(rsrc),  # VirtualSize
            rsrc_rva,  # VirtualAddress
            rsrc_raw,  # SizeOfRawData
            headers_size + text_raw,  # PointerToRawData
            0,
            0,
            0,
            0,
            _CNT_INITIALIZED_DATA | _MEM_READ,
        )
    headers = (dos + coff + head + section).ljust(headers_size, b"\0")
    data = bytearray(headers + image.text.ljust(text_raw, b"\0") + rsrc.ljust(rsrc_raw, b"\0"))
    checksum_offset = lfanew + 24 + 64  # CheckSum sits at +64 in both optional-header forms
    struct.pack_into("<I", data, checksum_offset, pe_checksum(bytes(data), checksum_offset))
    return bytes(data)
