"""The PXE stand-ins (pebuild.sample.stubs.pxe): checked-in bytes against their .asm sources (nasm),
PE structure (pefile), and the stand-ins' SHA-256 code against hashlib. Their behaviour under real
firmware and the real dnsmasq is tests/pxe/test_pxe_netboot.py."""

from __future__ import annotations

import ctypes
import hashlib
import mmap
import os
import platform
import struct
import subprocess
from pathlib import Path

import pefile
import pytest

from _helpers import require_tool
from pebuild.errors import UsageError
from pebuild.sample.stubs import _pxecode
from pebuild.sample.stubs.pxe import (
    REAL_MODE_SIGNATURE,
    bootmgfw_program,
    bootmgr_exe_program,
    pxeboot_program,
)

STUB_DIR = Path(_pxecode.__file__).parent
SOURCES = {
    "pxeboot.asm": _pxecode.PXEBOOT_CODE,
    "bootmgr_rm.asm": _pxecode.BOOTMGR_RM_CODE,
    "bootmgr_pm.asm": _pxecode.BOOTMGR_PM_CODE,
    "bootmgfw_x64.asm": _pxecode.BOOTMGFW_X64_CODE,
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_checked_in_bytes_match_the_assembly_source(source: str, tmp_path: Path) -> None:
    nasm = require_tool("nasm")
    out = tmp_path / "out.bin"
    subprocess.run(
        [nasm, "-f", "bin", "-I", f"{STUB_DIR}/", "-o", str(out), str(STUB_DIR / source)], check=True
    )
    assert out.read_bytes() == SOURCES[source]


def test_bootmgr_exe_is_a_pe32_boot_application_with_a_real_mode_entry() -> None:
    marker = f"PEBUILD-SAMPLE bootmgr.exe {os.urandom(3).hex()}"
    data = bootmgr_exe_program(marker)
    pe = pefile.PE(data=data)
    assert pe.FILE_HEADER.Machine == 0x14C and pe.OPTIONAL_HEADER.Magic == 0x10B  # what wimboot loads on BIOS
    assert pe.OPTIONAL_HEADER.Subsystem == 16  # IMAGE_SUBSYSTEM_WINDOWS_BOOT_APPLICATION
    assert pe.verify_checksum()
    assert data[0x28:0x2C] == REAL_MODE_SIGNATURE  # what the pxeboot stand-in checks before jumping
    assert data[0x40 : 0x40 + len(_pxecode.BOOTMGR_RM_CODE)] == _pxecode.BOOTMGR_RM_CODE  # 1000:0040
    assert pe.DOS_HEADER.e_lfanew >= 0x40 + len(_pxecode.BOOTMGR_RM_CODE)
    text = pe.sections[0].get_data()
    assert text.startswith(_pxecode.BOOTMGR_PM_CODE) and pe.OPTIONAL_HEADER.AddressOfEntryPoint == 0x1000
    assert marker.encode() not in data  # the marker is stored XOR 0x5A, twice


def test_bootmgfw_efi_is_an_efi_application() -> None:
    data = bootmgfw_program("PEBUILD-SAMPLE bootmgfw.efi")
    pe = pefile.PE(data=data)
    assert pe.FILE_HEADER.Machine == 0x8664 and pe.OPTIONAL_HEADER.Subsystem == 10
    assert not pe.FILE_HEADER.IMAGE_FILE_RELOCS_STRIPPED and pe.verify_checksum()
    # other architectures keep the plain sample EFI program
    assert pefile.PE(data=bootmgfw_program("PEBUILD-SAMPLE bootmgfw.efi", "x86")).FILE_HEADER.Machine == 0x14C


def test_pxeboot_layout_and_bad_markers() -> None:
    data = pxeboot_program("PEBUILD-SAMPLE pxeboot.n12")
    assert len(data) == 2048 and data.startswith(_pxecode.PXEBOOT_CODE)
    for call in (
        lambda: pxeboot_program(""),
        lambda: bootmgr_exe_program("x" * 200),
        lambda: bootmgfw_program("é"),
    ):
        with pytest.raises(UsageError):
            call()


def test_the_stand_ins_sha256_agrees_with_hashlib(tmp_path: Path) -> None:
    """sha256.inc, assembled as 64-bit code (as in bootmgfw.efi) behind a System V wrapper, run
    in this process on edge-case lengths (padding into a second block at 56..63 bytes)."""
    if platform.machine() not in ("x86_64", "AMD64") or os.name != "posix":
        pytest.skip("runs x86-64 machine code in-process")
    nasm = require_tool("nasm")
    wrapper = tmp_path / "wrap.asm"
    wrapper.write_text(
        "bits 64\ndefault rel\nentry: push rbp\npush rbx\npush rsi\npush rdi\nmov rbp, rdi\nmov ecx, edx\n"
        'call sha256\npop rdi\npop rsi\npop rbx\npop rbp\nret\n%include "sha256.inc"\n'
    )
    subprocess.run(
        [nasm, "-f", "bin", "-I", f"{STUB_DIR}/", "-o", str(tmp_path / "w.bin"), str(wrapper)], check=True
    )
    code = (tmp_path / "w.bin").read_bytes()
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    function = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint32)(
        ctypes.addressof(ctypes.c_char.from_buffer(page))
    )
    work = ctypes.create_string_buffer(1024)
    for length in (0, 1, 55, 56, 63, 64, 65, 119, 120, 16384, 40001):
        data = os.urandom(length)
        function(ctypes.addressof(work), data, length)
        digest = b"".join(struct.pack(">I", word) for word in struct.unpack_from("<8I", work.raw))
        assert digest == hashlib.sha256(data).digest(), length
