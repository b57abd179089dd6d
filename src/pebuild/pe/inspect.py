"""PE/COFF inspection with pefile: machine -> arch, subsystem, version, signature, boot SVN.

The seed's classic trap is copying imagex.exe or msxml6.dll "from a 64-bit
machine" into a 32-bit PE (or the reverse): the media builds and then fails at
run time. Every PE file the builder puts into an image or onto media goes
through `check_arch`, which names the file and both arches.
Machine and subsystem numbers: Microsoft PE format spec, IMAGE_FILE_MACHINE_*
and IMAGE_SUBSYSTEM_*. `signature` is the result of really verifying the
Authenticode digest and signer signature (pebuild.pe.authenticode), not only
"a certificate table is present".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pebuild.errors import FormatError, PebuildError, SourceError

#: IMAGE_FILE_MACHINE_* -> ADK arch name
MACHINE_ARCH = {
    0x014C: "x86",  # I386
    0x8664: "amd64",  # AMD64
    0xAA64: "arm64",  # ARM64
    0x0200: "ia64",  # IA64
    0x01C4: "arm",  # ARMNT
    0x0EBC: "ebc",  # EFI byte code: runs on any UEFI with an EBC interpreter
}

SUBSYSTEMS = {
    1: "native",
    2: "windows",
    3: "console",
    10: "efi-application",
    11: "efi-boot-service-driver",
    12: "efi-runtime-driver",
    13: "efi-rom",
    16: "windows-boot-application",
}


@dataclass(frozen=True)
class PeInfo:
    machine: int
    arch: str
    subsystem: str
    pe32_plus: bool
    version: str | None
    certificate_table: bool  # the security directory points at a certificate table
    signature: str  # none | valid (digest matches, signer signature verifies) | invalid

    @property
    def signed(self) -> bool:
        """A verified Authenticode signature (not merely a certificate table)."""
        return self.signature == "valid"

    def to_json(self) -> dict[str, object]:
        return {
            "arch": self.arch,
            "machine": f"0x{self.machine:04x}",
            "subsystem": self.subsystem,
            "pe32_plus": self.pe32_plus,
            "version": self.version,
            "signature": self.signature,
        }


def is_pe(data: bytes) -> bool:
    """MZ header whose e_lfanew points at a 'PE\\0\\0' signature."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return False
    lfanew = int.from_bytes(data[0x3C:0x40], "little")
    return data[lfanew : lfanew + 4] == b"PE\0\0"


def inspect_pe(data: bytes | Path, *, name: str | None = None) -> PeInfo:
    """Read a PE file's header fields; FormatError when it is not a valid PE."""
    import pefile

    label = name or (str(data) if isinstance(data, Path) else "<bytes>")
    raw = data.read_bytes() if isinstance(data, Path) else data
    if not is_pe(raw):
        raise FormatError("not a PE file (no MZ/PE signature)", path=label)
    try:
        pe = pefile.PE(data=raw, fast_load=True)
    except pefile.PEFormatError as exc:
        raise FormatError(f"malformed PE file: {exc.value}", path=label) from None
    try:
        machine = pe.FILE_HEADER.Machine
        opt = pe.OPTIONAL_HEADER
        security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
        table = security.VirtualAddress != 0 and security.Size > 8
        version = _version(pe)
        return PeInfo(
            machine=machine,
            arch=MACHINE_ARCH.get(machine, f"machine-0x{machine:04x}"),
            subsystem=SUBSYSTEMS.get(opt.Subsystem, f"subsystem-{opt.Subsystem}"),
            pe32_plus=opt.Magic == 0x20B,
            version=version,
            certificate_table=table,
            signature=_signature_state(raw, label) if table else "none",
        )
    finally:
        pe.close()


def _signature_state(raw: bytes, label: str) -> str:
    from pebuild.pe.authenticode import read_authenticode

    try:
        auth = read_authenticode(raw, name=label)
    except FormatError:
        return "invalid"
    if not auth.signatures:
        return "invalid"
    return "valid" if all(s.valid for s in auth.signatures) else "invalid"


#: RT_RCDATA resource holding a Windows boot manager's Secure Version Number (4 bytes:
#: u16 minor, u16 major; read the same way by Rufus src/hash.c and Microsoft's scripts)
SVN_RESOURCE = "BOOTMGRSECURITYVERSIONNUMBER"
RT_RCDATA = 10


def boot_security_version(data: bytes | Path) -> tuple[int, int] | None:
    """(major, minor) from the BOOTMGRSECURITYVERSIONNUMBER resource; None when the file has none."""
    import pefile

    raw = data.read_bytes() if isinstance(data, Path) else data
    if not is_pe(raw):
        return None
    try:
        pe = pefile.PE(data=raw, fast_load=True)
    except pefile.PEFormatError:
        return None
    try:
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
        root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
        for rtype in root.entries if root else []:
            if rtype.id != RT_RCDATA or not hasattr(rtype, "directory"):
                continue
            for named in rtype.directory.entries:
                if named.name is None or str(named.name) != SVN_RESOURCE or not hasattr(named, "directory"):
                    continue
                for lang in named.directory.entries:
                    entry = lang.data.struct
                    value = pe.get_data(entry.OffsetToData, min(entry.Size, 4))
                    if len(value) == 4:
                        minor, major = (
                            int.from_bytes(value[:2], "little"),
                            int.from_bytes(value[2:], "little"),
                        )
                        return major, minor
    except Exception:  # a malformed resource tree is "no SVN", never a crash
        return None
    finally:
        pe.close()
    return None


def _version(pe: object) -> str | None:
    """FileVersion from VS_FIXEDFILEINFO, e.g. '10.0.26100.1'; None without a version resource."""
    import pefile

    try:
        pe.parse_data_directories(  # type: ignore[attr-defined]
            directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
        )
    except Exception:
        return None
    fixed = getattr(pe, "VS_FIXEDFILEINFO", None)
    if not fixed:
        return None
    info = fixed[0]
    ms, ls = info.FileVersionMS, info.FileVersionLS
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def check_arch(
    data: bytes | Path,
    arch: str,
    *,
    name: str,
    also_allowed: tuple[str, ...] = (),
    error: type[PebuildError] = SourceError,
) -> PeInfo | None:
    """Return the PeInfo of a PE file for `arch`; None when `data` is not a PE file at all.

    A PE of another machine raises `error` naming the file and both arches.
    EFI byte code is arch-neutral. `also_allowed` admits e.g. x86 bootmgr.exe on
    amd64 PXE media (the BIOS boot manager is 32-bit on every arch).
    """
    raw = data.read_bytes() if isinstance(data, Path) else data
    if not is_pe(raw):
        return None
    info = inspect_pe(raw, name=name)
    if info.arch not in (arch, "ebc", *also_allowed):
        article = "an" if info.arch[0] in "aeiox" else "a"  # an x86, an amd64, an arm64, an ia64
        raise error(
            f"{name} is {article} {info.arch} PE file but the build is for {arch} "
            f"(take it from the {arch} kit, not from {article} {info.arch} machine)"
        )
    return info
