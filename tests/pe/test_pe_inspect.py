"""pebuild.pe against real PE files (iPXE's wimboot builds, signed and unsigned), the sample's
PE stand-ins (console/windows subsystems with a version resource) and hand-made headers;
`file` and osslsigncode are the independent readers."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest

from _helpers import SHARED_DIR, require_tool
from pebuild.errors import FormatError, RecipeError, SourceError
from pebuild.pe import authenticode_digest, check_arch, inspect_pe, is_pe
from pebuild.sample.stubs import pe_standin

WIMBOOT = SHARED_DIR / "fixtures" / "wimboot"
#: wimboot v2.9.0 (../shared/fixtures/wimboot/README.md): file -> arch; each also in unsigned/
WIMBOOT_ARCH = {"wimboot": "amd64", "wimboot.i386": "x86", "wimboot.arm64": "arm64"}
REAL = sorted([*WIMBOOT_ARCH, *(f"unsigned/{name}" for name in WIMBOOT_ARCH)])
# arch -> the word `file` prints for the machine type
FILE_WORD = {"x86": "Intel 80386", "amd64": "x86-64", "arm64": "Aarch64"}
#: stand-in -> (arch, subsystem), the shapes of the Windows tools a kit carries
STANDINS = {
    "imagex.exe": ("x86", "console"),
    "wpeutil.exe": ("amd64", "windows"),
    "dism.exe": ("arm64", "console"),
}


def real_pe(rel: str) -> Path:
    path = WIMBOOT / rel
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared/fixtures/wimboot)")
    return path


def file_says(path: Path) -> str:
    """`file -k` (keep going): wimboot is a bzImage first and a PE image second."""
    file = require_tool("file")
    return subprocess.run([file, "-bk", str(path)], capture_output=True, text=True, check=True).stdout


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


@pytest.mark.parametrize("rel", REAL)
def test_real_pe_files_match_file_and_osslsigncode(rel: str) -> None:
    path = real_pe(rel)
    arch = WIMBOOT_ARCH[path.name]
    signed = not rel.startswith("unsigned/")
    info = inspect_pe(path)
    assert (info.arch, info.subsystem, info.pe32_plus) == (arch, "efi-application", arch != "x86")
    assert info.version is None  # wimboot carries no version resource
    assert (info.certificate_table, info.signature, info.signed) == (
        signed,
        "valid" if signed else "none",
        signed,
    )
    kind = "PE32+ executable" if arch != "x86" else "PE32 executable"
    said = file_says(path)
    assert f"{kind} (DLL) (EFI application) {FILE_WORD[arch]}" in said, said
    # the Authenticode digest: osslsigncode's of the signed build, which signing did not change
    signed_build = real_pe(path.name)
    out = subprocess.run(
        [require_tool("osslsigncode"), "verify", "-in", str(signed_build)],
        capture_output=True,
        text=True,
    ).stdout
    (calculated,) = re.findall(r"Calculated message digest\s*:\s*([0-9A-F]{64})", out)
    assert authenticode_digest(path.read_bytes()).hex().upper() == calculated, out


@pytest.mark.parametrize("name", sorted(STANDINS))
def test_stand_ins_with_version_resources_match_file(name: str, tmp_path: Path) -> None:
    arch, subsystem = STANDINS[name]
    path = tmp_path / name
    path.write_bytes(pe_standin(name, arch, subsystem))
    info = inspect_pe(path)
    assert (info.arch, info.subsystem, info.pe32_plus) == (arch, subsystem, arch != "x86")
    assert info.version == "10.0.26100.1"
    assert (info.certificate_table, info.signature, info.signed) == (False, "none", False)
    kind = "PE32+ executable" if arch != "x86" else "PE32 executable"
    said = file_says(path)
    assert f"{kind} ({'GUI' if subsystem == 'windows' else subsystem}) {FILE_WORD[arch]}" in said, said


@pytest.mark.parametrize(
    ("machine", "arch", "plus"),
    [(0x14C, "x86", False), (0x8664, "amd64", True), (0xAA64, "arm64", True), (0x200, "ia64", True)],
)
def test_machine_to_arch_on_hand_made_headers(machine: int, arch: str, plus: bool) -> None:
    info = inspect_pe(minimal_pe(machine, pe32_plus=plus))
    assert (info.arch, info.subsystem, info.pe32_plus, info.version) == (arch, "efi-application", plus, None)


def test_a_certificate_table_alone_is_not_a_signature(tmp_path: Path) -> None:
    """Issue 14: `signed` used to mean "a certificate table is present"; now it is verified."""
    data = bytearray(real_pe("unsigned/wimboot").read_bytes())
    lfanew = struct.unpack_from("<I", data, 0x3C)[0]
    security_entry = lfanew + 24 + 112 + 4 * 8  # PE32+: data directories at +112, SECURITY is #4
    cert = struct.pack("<IHH", 16, 0x0200, 0x0002) + b"\0" * 8  # WIN_CERTIFICATE header + payload
    struct.pack_into("<II", data, security_entry, len(data), len(cert))
    info = inspect_pe(bytes(data) + cert)
    assert info.certificate_table is True
    assert (info.signature, info.signed) == ("invalid", False)
    assert inspect_pe(real_pe("unsigned/wimboot")).signature == "none"


def test_check_arch_mismatch_names_file_and_both_arches() -> None:
    data = real_pe("unsigned/wimboot.i386").read_bytes()
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
