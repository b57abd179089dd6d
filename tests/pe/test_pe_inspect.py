"""pebuild.pe against real MSVC-built PE files (pip's distlib launchers) and hand-made headers."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pip
import pytest

from pebuild.errors import FormatError, RecipeError, SourceError
from pebuild.pe import check_arch, inspect_pe, is_pe

LAUNCHERS = Path(pip.__file__).parent / "_vendor" / "distlib"
# launcher -> (arch, subsystem) as `file` names them: Intel 80386 / x86-64 / Aarch64
EXPECTED = {
    "t32.exe": ("x86", "console"),
    "w64.exe": ("amd64", "windows"),
    "t64-arm.exe": ("arm64", "console"),
}
FILE_WORD = {"x86": "Intel 80386", "amd64": "x86-64", "arm64": "Aarch64"}


def launcher(name: str) -> Path:
    path = LAUNCHERS / name
    if not path.is_file():
        pytest.skip(f"pip's distlib launcher {name} not present")
    return path


def minimal_pe(machine: int, *, pe32_plus: bool = True, subsystem: int = 10) -> bytes:
    """A header-only PE written from the spec by hand (independent of pefile and pebuild)."""
    lfanew = 0x40
    opt_size = 240 if pe32_plus else 224
    dos = b"MZ" + b"\0" * 0x3A + struct.pack("<I", lfanew)
    coff = struct.pack("<HHIIIHH", machine, 0, 0, 0, 0, opt_size, 0x0022)
    magic = 0x20B if pe32_plus else 0x10B
    opt = bytearray(opt_size)
    struct.pack_into("<H", opt, 0, magic)
    struct.pack_into("<I", opt, 32, 0x1000)  # SectionAlignment
    struct.pack_into("<I", opt, 36, 0x200)  # FileAlignment
    struct.pack_into("<I", opt, 56, 0x1000)  # SizeOfImage
    struct.pack_into("<I", opt, 60, 0x200)  # SizeOfHeaders
    struct.pack_into("<H", opt, 68, subsystem)
    struct.pack_into("<I", opt, 108 if pe32_plus else 92, 16)  # NumberOfRvaAndSizes
    data = dos + b"PE\0\0" + coff + bytes(opt)
    return data + b"\0" * (0x200 - len(data))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_launchers_match_file_command(name: str) -> None:
    path = launcher(name)
    arch, subsystem = EXPECTED[name]
    info = inspect_pe(path)
    assert info.arch == arch
    assert info.subsystem == subsystem
    assert info.pe32_plus is (arch != "x86")
    assert info.version is not None and info.version.count(".") == 3
    assert info.signed is False and info.signature == "none"
    if shutil.which("file"):
        out = subprocess.run(["file", "-b", str(path)], capture_output=True, text=True).stdout
        assert FILE_WORD[arch] in out


@pytest.mark.parametrize(
    ("machine", "arch", "plus"),
    [(0x14C, "x86", False), (0x8664, "amd64", True), (0xAA64, "arm64", True), (0x200, "ia64", True)],
)
def test_machine_to_arch_on_hand_made_headers(machine: int, arch: str, plus: bool) -> None:
    info = inspect_pe(minimal_pe(machine, pe32_plus=plus))
    assert (info.arch, info.subsystem, info.pe32_plus, info.version) == (arch, "efi-application", plus, None)


def test_a_certificate_table_alone_is_not_a_signature(tmp_path: Path) -> None:
    """Issue 14: `signed` used to mean "a certificate table is present"; now it is verified."""
    data = bytearray(launcher("t64.exe").read_bytes())
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    security_entry = lfanew + 24 + 112 + 4 * 8  # PE32+: data directories at +112, SECURITY is #4
    cert = struct.pack("<IHH", 16, 0x0200, 0x0002) + b"\0" * 8  # WIN_CERTIFICATE header + payload
    struct.pack_into("<II", data, security_entry, len(data), len(cert))
    info = inspect_pe(bytes(data) + cert)
    assert info.certificate_table is True
    assert (info.signature, info.signed) == ("invalid", False)
    assert inspect_pe(launcher("t64.exe")).signature == "none"


def test_check_arch_mismatch_names_file_and_both_arches() -> None:
    data = launcher("t32.exe").read_bytes()
    with pytest.raises(SourceError) as info:
        check_arch(data, "amd64", name="Windows/System32/imagex.exe")
    message = str(info.value)
    assert "Windows/System32/imagex.exe" in message
    assert "x86" in message and "amd64" in message
    with pytest.raises(RecipeError):
        check_arch(data, "arm64", name="x.exe", error=RecipeError)
    assert check_arch(data, "x86", name="x.exe").arch == "x86"
    assert check_arch(data, "amd64", name="bootmgr.exe", also_allowed=("x86",)).arch == "x86"


def test_non_pe_and_broken_pe() -> None:
    assert check_arch(b"\xeb\x3c\x90MSDOS5.0" + b"\0" * 100, "amd64", name="etfsboot.com") is None
    assert not is_pe(b"MZ")
    broken = bytearray(minimal_pe(0x8664))
    with pytest.raises(FormatError):
        inspect_pe(bytes(broken[:0x60]) + b"PE\0\0"[:2])
    ebc = minimal_pe(0x0EBC)
    assert check_arch(ebc, "x86", name="driver.efi").arch == "ebc"
