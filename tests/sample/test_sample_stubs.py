"""The sample's boot programs: independent readers (pefile, nasm) and real boots under QEMU."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pefile
import pytest

from _helpers import require_tool
from pebuild.errors import UsageError
from pebuild.sample.stubs import (
    BOOTMGR_MAX,
    _code,
    bios_program,
    bootmgr_program,
    efi_program,
    etfsboot_program,
    pe_standin,
)

STUB_DIR = Path(_code.__file__).parent
MACHINES = {"x86": 0x14C, "amd64": 0x8664, "arm64": 0xAA64, "ia64": 0x200}
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


def _unique(name: str) -> str:
    return f"PEBUILD-SAMPLE {name} {os.urandom(4).hex()}"


def _parse(data: bytes) -> pefile.PE:
    pe = pefile.PE(data=data)
    # pefile's only remark on tiny images is the share of zero padding, a heuristic, not a defect
    assert [w for w in pe.get_warnings() if not w.startswith("Byte 0x00 makes up")] == []
    assert pe.verify_checksum()
    return pe


@pytest.mark.parametrize("arch", sorted(MACHINES))
def test_efi_program_is_an_efi_application_of_its_arch(arch: str) -> None:
    marker = _unique("bootx64.efi")
    data = efi_program(marker, arch)
    pe = _parse(data)
    assert pe.FILE_HEADER.Machine == MACHINES[arch]
    assert pe.OPTIONAL_HEADER.Subsystem == 10  # IMAGE_SUBSYSTEM_EFI_APPLICATION
    assert pe.OPTIONAL_HEADER.Magic == (0x10B if arch == "x86" else 0x20B)
    assert pe.is_exe()
    assert not pe.FILE_HEADER.IMAGE_FILE_RELOCS_STRIPPED  # EDK2 may relocate it
    entry = pe.OPTIONAL_HEADER.AddressOfEntryPoint
    text = pe.sections[0]
    assert text.contains_rva(entry)
    assert marker.encode() not in data and marker.encode("utf-16-le") not in data


@pytest.mark.parametrize("arch", sorted(MACHINES))
def test_pe_standin_is_a_console_pe_of_its_arch(arch: str) -> None:
    data = pe_standin("imagex.exe", arch)
    pe = _parse(data)
    assert pe.FILE_HEADER.Machine == MACHINES[arch]
    assert pe.OPTIONAL_HEADER.Subsystem == 3  # IMAGE_SUBSYSTEM_WINDOWS_CUI
    assert b"imagex.exe" in data
    # the version resource, as pefile reads it (StringFileInfo + VS_FIXEDFILEINFO)
    strings = {
        k: v for fi in pe.FileInfo[0] for st in getattr(fi, "StringTable", []) for k, v in st.entries.items()
    }
    assert strings[b"OriginalFilename"] == b"imagex.exe"
    assert b"not Microsoft" in strings[b"CompanyName"]
    fixed = pe.VS_FIXEDFILEINFO[0]
    assert strings[b"FileVersion"].decode() == (
        f"{fixed.FileVersionMS >> 16}.{fixed.FileVersionMS & 0xFFFF}."
        f"{fixed.FileVersionLS >> 16}.{fixed.FileVersionLS & 0xFFFF}"
    )
    assert fixed.FileType == 1  # VFT_APP
    assert (
        pefile.PE(data=pe_standin("msxml6.dll", arch, "windows")).VS_FIXEDFILEINFO[0].FileType == 2
    )  # VFT_DLL
    assert pefile.PE(data=pe_standin("bootmgr.exe", arch, "boot_application")).OPTIONAL_HEADER.Subsystem == 16


def test_bios_program_layout() -> None:
    marker = _unique("etfsboot.com")
    data = bios_program(marker, size=4096)
    assert len(data) == 4096
    assert data[510:512] == b"\x55\xaa"
    assert marker.encode() not in data
    assert data[0] == 0xFA  # cli: code starts at the load address


def test_etfsboot_program_is_the_code_padded_to_an_el_torito_load() -> None:
    data = etfsboot_program()
    assert len(data) == 4096  # boot catalog sector count 8, like oscdimg's for Microsoft's file
    assert data.startswith(_code.ETFSBOOT_CODE) and data[len(_code.ETFSBOOT_CODE) :] == bytes(
        4096 - len(_code.ETFSBOOT_CODE)
    )
    assert len(_code.ETFSBOOT_CODE) <= 2048  # also runs from a 4-sector (one CD sector) load
    assert b"PEBUILD-SAMPLE" not in data


def test_bootmgr_program_carries_its_length_and_adler32() -> None:
    """What bootmgr.asm checks before it does anything: zlib is the independent Adler-32."""
    marker = _unique("bootmgr")
    data = bootmgr_program(marker, size=100_000)
    assert len(data) == 100_000
    assert data[:2] == b"\xeb\x08"  # jmp short over the header
    length, adler = struct.unpack_from("<II", data, 2)
    assert length == len(data)
    assert adler == zlib.adler32(data[10:])
    assert marker.encode() not in data
    # the padding is not zeros: a load that stops early (zeroed memory) changes the sum
    tail = data[len(_code.BOOTMGR_CODE) + 2 + len(marker) :]
    assert tail.count(0) < len(tail) // 64
    assert zlib.adler32(data[10:50_000] + bytes(50_000)) != adler


def test_bad_markers_and_args_are_usage_errors() -> None:
    for call in (
        lambda: bios_program(""),
        lambda: bios_program("x" * 400),
        lambda: bios_program("ok", size=100),
        lambda: bootmgr_program("ok", size=1000),
        lambda: bootmgr_program("ok", size=BOOTMGR_MAX + 1),
        lambda: bootmgr_program("x" * 201),
        lambda: etfsboot_program(size=512),
        lambda: efi_program("é"),
        lambda: efi_program("ok", "mips"),
        lambda: pe_standin("a.exe", "amd64", "gui?"),
    ):
        with pytest.raises(UsageError):
            call()


@pytest.mark.parametrize("source", ["bios.asm", "etfsboot.asm", "bootmgr.asm", "efi_x64.asm", "efi_ia32.asm"])
def test_checked_in_bytes_match_the_assembly_source(source: str, tmp_path: Path) -> None:
    nasm = require_tool("nasm")
    out = tmp_path / "out.bin"
    cmd = [nasm, "-f", "bin", "-I", f"{STUB_DIR}/", "-o", str(out), str(STUB_DIR / source)]
    subprocess.run(cmd, check=True)
    expected = {
        "bios.asm": _code.BIOS_CODE,
        "etfsboot.asm": _code.ETFSBOOT_CODE,
        "bootmgr.asm": _code.BOOTMGR_CODE,
        "efi_x64.asm": _code.EFI_X64_CODE,
        "efi_ia32.asm": _code.EFI_IA32_CODE,
    }[source]
    assert out.read_bytes() == expected


def test_checked_in_arm64_bytes_match_the_assembly_source(tmp_path: Path) -> None:
    """efi_aa64.S through GNU as (binutils-aarch64-linux-gnu); llvm-mc gives the same bytes."""
    obj, out = tmp_path / "efi_aa64.o", tmp_path / "efi_aa64.bin"
    source = str(STUB_DIR / "efi_aa64.S")
    if shutil.which("aarch64-linux-gnu-as"):
        subprocess.run([require_tool("aarch64-linux-gnu-as"), "-o", str(obj), source], check=True)
        objcopy = require_tool("aarch64-linux-gnu-objcopy")
    elif shutil.which("llvm-mc") and shutil.which("llvm-objcopy"):
        subprocess.run(["llvm-mc", "-triple=aarch64", "-filetype=obj", "-o", str(obj), source], check=True)
        objcopy = "llvm-objcopy"
    else:
        require_tool("aarch64-linux-gnu-as")  # skips, naming the Debian package
    subprocess.run([objcopy, "-O", "binary", "-j", ".text", str(obj), str(out)], check=True)
    assert out.read_bytes() == _code.EFI_ARM64_CODE


@pytest.mark.smoke
def test_bios_program_boots_from_a_disk_and_powers_off(tmp_path: Path) -> None:
    qemu = require_tool("qemu-system-x86_64")
    marker = _unique("bootsect")
    disk = tmp_path / "disk.img"
    disk.write_bytes(bios_program(marker, size=1 << 20))
    serial = tmp_path / "serial.txt"
    cmd = [qemu, "-accel", "tcg", "-nodefaults", "-display", "none", "-vga", "std", "-no-reboot"]
    cmd += ["-serial", f"file:{serial}", "-drive", f"file={disk},format=raw,if=ide"]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # powered itself off
    assert f"{marker} dl=80".encode() in serial.read_bytes()  # SeaBIOS's first hard disk


@pytest.mark.smoke
@pytest.mark.slow
def test_efi_program_runs_under_ovmf_and_shuts_down(tmp_path: Path) -> None:
    qemu = require_tool("qemu-system-x86_64")
    if not (OVMF_CODE.is_file() and OVMF_VARS.is_file()):
        pytest.skip("OVMF not installed (Debian package ovmf)")
    marker = _unique("bootx64.efi")
    esp = tmp_path / "esp" / "EFI" / "BOOT"
    esp.mkdir(parents=True)
    (esp / "BOOTX64.EFI").write_bytes(efi_program(marker, "amd64"))
    shutil.copy(OVMF_VARS, tmp_path / "vars.fd")
    serial = tmp_path / "serial.txt"
    cmd = [qemu, "-accel", "tcg", "-machine", "q35", "-m", "512", "-nodefaults", "-display", "none"]
    cmd += ["-vga", "std", "-no-reboot", "-serial", f"file:{serial}"]
    cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"]
    cmd += ["-drive", f"if=pflash,format=raw,unit=1,file={tmp_path / 'vars.fd'}"]
    # QEMU's vvfat shows the directory as a FAT disk: no FAT writer involved
    cmd += ["-drive", f"file=fat:rw:{tmp_path / 'esp'},format=raw,if=ide"]
    proc = subprocess.run(cmd, capture_output=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert f"{marker} fw=EDK II".encode() in serial.read_bytes()
