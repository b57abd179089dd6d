"""The sample's signed boot manager sets: a 2011 set and a 2023 `_EX` set, like a 2024+ ADK's.

Microsoft ships the Windows UEFI CA 2023-signed boot files inside boot.wim
(`Windows\\Boot\\EFI_EX\\bootmgfw_EX.efi`, `bootmgr_EX.efi`,
`DVD_EX\\EFI\\en-US\\efisys_EX.bin`, `efisys_noprompt_EX.bin`, `FONTS_EX\\*_EX.ttf`)
and the ADK's Oscdimg folder carries efisys_EX.bin (docs/secureboot.md §3). The
sample does the same with its tiny marker programs: the 2011 set is signed by
the TEST "Windows Production PCA 2011" chain with SVN 3.0 (the ADK 26100 boot
managers' SVN), the `_EX` set by the TEST "Windows UEFI CA 2023" chain with SVN
9.0, each program carrying a VS_VERSIONINFO (OriginalFilename) and the
BOOTMGRSECURITYVERSIONNUMBER RCDATA resource Rufus and the boot manager read.
The `_EX` programs print "<marker> 2023", so a smoke boot shows which set ran.
"""

from __future__ import annotations

import struct

from pebuild.pe._layout import pe_checksum, pe_layout
from pebuild.pe.inspect import RT_RCDATA, SVN_RESOURCE
from pebuild.pe.sign import Signer, sign_pe
from pebuild.sample.stubs import STANDIN_VERSION, efi_program
from pebuild.sample.stubs._version import LANG_EN_US, RT_VERSION, version_info
from pebuild.sample.testkeys import private_key, signer_chain

SVN_2011 = (3, 0)
SVN_2023 = (9, 0)
EX_SUFFIX = " 2023"
SIGNERS = {"2011": "windows-2011-signer", "2023": "windows-2023-signer"}
_SECTION_ALIGNMENT = 0x1000
_FILE_ALIGNMENT = 0x200


def _directory(named: int, ids: int) -> bytes:
    return struct.pack("<IIHHHH", 0, 0, 0, 0, named, ids)


def resource_tree(rva: int, info: bytes, svn: tuple[int, int] | None) -> bytes:
    """.rsrc bytes: RT_RCDATA/"BOOTMGRSECURITYVERSIONNUMBER"/0x409 (4 bytes) and RT_VERSION/1/0x409.

    PE/COFF spec "The .rsrc Section": ID entries ascend, a named entry's name is an
    IMAGE_RESOURCE_DIR_STRING_U (u16 length + UTF-16LE) addressed with the high bit set.
    """
    sub = 0x80000000
    if svn is None:
        root = _directory(0, 1) + struct.pack("<II", RT_VERSION, sub | 24)
        tree = root + _directory(0, 1) + struct.pack("<II", 1, sub | 48)
        tree += _directory(0, 1) + struct.pack("<II", LANG_EN_US, 72)
        return tree + struct.pack("<IIII", rva + 88, len(info), 0, 0) + info
    name = SVN_RESOURCE.encode("utf-16-le")
    string = struct.pack("<H", len(SVN_RESOURCE)) + name
    string += b"\0" * (-len(string) % 4)
    strings_at = 128
    entries_at = strings_at + len(string)
    data_at = entries_at + 32
    tree = _directory(0, 2) + struct.pack("<IIII", RT_RCDATA, sub | 32, RT_VERSION, sub | 80)
    tree += _directory(1, 0) + struct.pack("<II", sub | strings_at, sub | 56)
    tree += _directory(0, 1) + struct.pack("<II", LANG_EN_US, entries_at)
    tree += _directory(0, 1) + struct.pack("<II", 1, sub | 104)
    tree += _directory(0, 1) + struct.pack("<II", LANG_EN_US, entries_at + 16)
    assert len(tree) == strings_at
    value = struct.pack("<HH", svn[1], svn[0])  # minor, major: u32 major<<16 | minor
    tree += string
    tree += struct.pack("<IIII", rva + data_at, 4, 0, 0)
    tree += struct.pack("<IIII", rva + data_at + 4, len(info), 0, 0)
    return tree + value + info


def add_resources(program: bytes, name: str, svn: tuple[int, int] | None) -> bytes:
    """`program` (one .text section, from efi_program) with a .rsrc section appended."""
    data = bytearray(program)
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    coff, opt = lfanew + 4, lfanew + 24
    count, opt_size = (
        struct.unpack_from("<H", data, coff + 2)[0],
        struct.unpack_from("<H", data, coff + 16)[0],
    )
    table = opt + opt_size
    last = table + 40 * (count - 1)
    vsize, vaddr, raw_size, raw_ptr = struct.unpack_from("<IIII", data, last + 8)
    if table + 40 * (count + 1) > _FILE_ALIGNMENT:
        raise ValueError("no room for another section header")
    rva = vaddr + (vsize + _SECTION_ALIGNMENT - 1) // _SECTION_ALIGNMENT * _SECTION_ALIGNMENT
    rsrc = resource_tree(rva, version_info(name, STANDIN_VERSION, dll=False), svn)
    rsrc_raw = rsrc + b"\0" * (-len(rsrc) % _FILE_ALIGNMENT)
    pointer = raw_ptr + raw_size
    header = struct.pack(
        "<8sIIIIIIHHI", b".rsrc", len(rsrc), rva, len(rsrc_raw), pointer, 0, 0, 0, 0, 0x40000040
    )
    data[table + 40 * count : table + 40 * (count + 1)] = header
    struct.pack_into("<H", data, coff + 2, count + 1)
    init = struct.unpack_from("<I", data, opt + 8)[0]
    struct.pack_into("<I", data, opt + 8, init + len(rsrc_raw))  # SizeOfInitializedData
    size_of_image = rva + (len(rsrc) + _SECTION_ALIGNMENT - 1) // _SECTION_ALIGNMENT * _SECTION_ALIGNMENT
    struct.pack_into("<I", data, opt + 56, size_of_image)
    plus = struct.unpack_from("<H", data, opt)[0] == 0x20B
    resource_dir = opt + (112 if plus else 96) + 8 * 2
    struct.pack_into("<II", data, resource_dir, rva, len(rsrc))
    out = bytes(data[:pointer]) + rsrc_raw + bytes(data[pointer:])
    checksum = pe_layout(out).checksum_offset
    return out[:checksum] + struct.pack("<I", pe_checksum(out, checksum)) + out[checksum + 4 :]


def signed_program(
    marker: str, arch: str, *, name: str, generation: str, svn: tuple[int, int] | None
) -> bytes:
    """A marker EFI program named `name`, with resources, signed by the `generation` TEST signer.

    bootmgfw.efi is the PXE-aware stand-in of pebuild.sample.stubs.pxe (issue 13), so a
    signed one still boots over the network; cdboot.efi (efisys's bootx64.efi) is its mode that
    reads the BCD and ramdisk from the disc (issue 20).
    """
    from pebuild.sample.stubs.pxe import bootmgfw_program, cdboot_program

    text = marker + (EX_SUFFIX if generation == "2023" else "")
    lower = name.lower()
    build = (
        bootmgfw_program
        if lower.startswith("bootmgfw")
        else cdboot_program
        if lower == "cdboot.efi"
        else efi_program
    )
    program = add_resources(build(text, arch), name, svn)
    leaf = SIGNERS[generation]
    return sign_pe(program, Signer(private_key(leaf), signer_chain(leaf)))


def _efisys(arch: str, noprompt: bool, generation: str, timestamp: int) -> bytes:
    from pebuild.arches import EFI_NAME
    from pebuild.clock import stable_guid
    from pebuild.fat import efisys_image

    efi = EFI_NAME[arch]
    text = f"PEBUILD-SAMPLE boot{efi}.efi" + (" noprompt" if noprompt else "")
    program = signed_program(text, arch, name="cdboot.efi", generation=generation, svn=SVN_2011)
    seed = ("pebuild-sample", arch, "efisys", noprompt) + ((generation,) if generation == "2023" else ())
    volume_id = stable_guid(*seed).int & 0xFFFFFFFF
    return efisys_image(
        {f"EFI/BOOT/BOOT{efi.upper()}.EFI": program}, timestamp=timestamp, volume_id=volume_id
    )


#: logical boot file name (as pebuild.source names them) -> path inside the sample's winpe.wim
EX_IMAGE_PATHS = {
    "bootmgfw_EX.efi": "Windows/Boot/EFI_EX/bootmgfw_EX.efi",
    "bootmgr_EX.efi": "Windows/Boot/EFI_EX/bootmgr_EX.efi",
    "efisys_EX.bin": "Windows/Boot/DVD_EX/EFI/en-US/efisys_EX.bin",
    "efisys_noprompt_EX.bin": "Windows/Boot/DVD_EX/EFI/en-US/efisys_noprompt_EX.bin",
}


def sample_boot_sets(arch: str, timestamp: int, fonts: tuple[str, ...]) -> dict[str, bytes]:
    """The signed 2011 set (replacing the unsigned programs) and the 2023 `_EX` set, by logical name."""
    files: dict[str, bytes] = {}
    for generation, suffix, svn in (("2011", "", SVN_2011), ("2023", "_EX", SVN_2023)):
        for name in ("bootmgfw", "bootmgr"):
            files[f"{name}{suffix}.efi"] = signed_program(
                f"PEBUILD-SAMPLE {name}.efi", arch, name=f"{name}.efi", generation=generation, svn=svn
            )
        files[f"efisys{suffix}.bin"] = _efisys(arch, False, generation, timestamp)
        files[f"efisys_noprompt{suffix}.bin"] = _efisys(arch, True, generation, timestamp)
    for font in fonts:
        stem, dot, ext = font.rpartition(".")
        files[f"fonts_ex/{stem}_EX{dot}{ext}"] = (
            f"pebuild sample stand-in for {stem}_EX.{ext}; not a font\n".encode()
        )
    return files


def put_ex_set(put: object, root: object, files: dict[str, bytes]) -> None:
    """Place the `_EX` set in the image tree as Microsoft's boot.wim has it (calls put(root, rel, data))."""
    for name, rel in EX_IMAGE_PATHS.items():
        put(root, rel, files[name])  # type: ignore[operator]
    for name in sorted(files):
        if name.startswith("fonts_ex/"):
            put(root, f"Windows/Boot/FONTS_EX/{name.split('/', 1)[1]}", files[name])  # type: ignore[operator]
