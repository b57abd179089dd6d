"""Find QEMU, OVMF and the iPXE NIC ROMs; missing pieces name their Debian package.

OVMF is chosen like mkosi's `find_ovmf_firmware()`: from QEMU's firmware
descriptor JSONs (docs/interop/firmware.json), which every distribution ships
beside its OVMF build: never a build with enrolled keys (it refuses unsigned
programs: qemu.md pitfall 3), a plain build before a Secure Boot/SMM one. Known paths of other
distributions are the fallback; PEBUILD_OVMF_CODE / PEBUILD_OVMF_VARS override.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pebuild.errors import ToolError

FIRMWARE_DESCRIPTOR_DIRS = (
    Path("/etc/qemu/firmware"),
    Path("/usr/share/qemu/firmware"),
)
#: (code, vars) pairs seen on Debian/Ubuntu, Fedora, Arch and upstream QEMU builds
FALLBACK_OVMF = {
    "x86_64": [
        ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
        ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
        ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
        ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"),
        ("/usr/share/qemu/edk2-x86_64-code.fd", "/usr/share/qemu/edk2-i386-vars.fd"),
    ],
    "i386": [
        ("/usr/share/OVMF/OVMF32_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF32_VARS_4M.fd"),
        ("/usr/share/edk2/ovmf-ia32/OVMF_CODE.fd", "/usr/share/edk2/ovmf-ia32/OVMF_VARS.fd"),
        ("/usr/share/edk2/ia32/OVMF_CODE.4m.fd", "/usr/share/edk2/ia32/OVMF_VARS.4m.fd"),
        ("/usr/share/qemu/edk2-i386-code.fd", "/usr/share/qemu/edk2-i386-vars.fd"),
    ],
    "aarch64": [
        ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
        ("/usr/share/edk2/aarch64/QEMU_EFI-pflash.raw", "/usr/share/edk2/aarch64/vars-template-pflash.raw"),
        ("/usr/share/qemu/edk2-aarch64-code.fd", "/usr/share/qemu/edk2-arm-vars.fd"),
    ],
}
OVMF_PACKAGE = {"x86_64": "ovmf", "i386": "ovmf-ia32", "aarch64": "qemu-efi-aarch64"}
#: ADK arch -> (QEMU system emulator, its Debian package, firmware.json architecture)
QEMU_SYSTEMS = {
    "amd64": ("qemu-system-x86_64", "qemu-system-x86", "x86_64"),
    "x86": ("qemu-system-x86_64", "qemu-system-x86", "i386"),  # runs 32-bit guests and IA32 OVMF
    "arm64": ("qemu-system-aarch64", "qemu-system-arm", "aarch64"),
}
IPXE_ROM_DIRS = (Path("/usr/lib/ipxe/qemu"), Path("/usr/share/qemu"), Path("/usr/share/ipxe"))
#: keys enrolled: Secure Boot is enforced and refuses unsigned programs (qemu.md pitfall 3)
_REJECTED_FEATURES = {"enrolled-keys"}
#: usable, but only when nothing plainer exists
_LAST_RESORT_FEATURES = {"secure-boot", "requires-smm"}


@dataclass(frozen=True)
class Ovmf:
    """A CODE image (read-only pflash) and the VARS template it pairs with.

    `requires_smm`: an SMM build (Debian's only IA32 OVMF is one); QEMU must then run
    `-machine q35,smm=on` with secure pflash. Its empty VARS template enrolls no keys,
    so unsigned programs still start.
    """

    code: Path
    vars_template: Path
    descriptor: Path | None = None
    requires_smm: bool = False


def find_qemu(arch: str = "amd64") -> Path:
    """The system emulator for the guest arch: qemu-system-x86_64 (x86, amd64), qemu-system-aarch64."""
    name, package, _ = QEMU_SYSTEMS[arch]
    found = shutil.which(name)
    if found:
        return Path(found)
    firmware = OVMF_PACKAGE[QEMU_SYSTEMS[arch][2]]
    raise ToolError(
        f"{name} not found: install the Debian package {package} "
        f"(apt-get install --no-install-recommends {package} {firmware})"
    )


def _descriptor_files() -> list[Path]:
    """Descriptors by file name, /etc overriding /usr/share with the same name (firmware.json rules)."""
    chosen: dict[str, Path] = {}
    for directory in reversed(FIRMWARE_DESCRIPTOR_DIRS):
        if directory.is_dir():
            for path in directory.glob("*.json"):
                chosen[path.name] = path
    return [chosen[name] for name in sorted(chosen)]


def _from_descriptor(path: Path, qemu_arch: str) -> tuple[int, Ovmf] | None:
    """(rank, firmware) for a usable descriptor: rank 0 plain, 1 Secure Boot/SMM without keys."""
    try:
        desc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if "uefi" not in desc.get("interface-types", []):
        return None
    if not any(t.get("architecture") == qemu_arch for t in desc.get("targets", [])):
        return None
    features = set(desc.get("features", []))
    if _REJECTED_FEATURES & features:
        return None
    mapping = desc.get("mapping", {})
    if mapping.get("device") != "flash":
        return None
    code = mapping.get("executable", {}).get("filename")
    template = mapping.get("nvram-template", {}).get("filename")
    if not code or not template or not Path(code).is_file() or not Path(template).is_file():
        return None
    rank = 1 if _LAST_RESORT_FEATURES & features else 0
    return rank, Ovmf(Path(code), Path(template), path, requires_smm="requires-smm" in features)


def find_ovmf(arch: str = "amd64") -> Ovmf:
    """OVMF for the guest arch (`amd64`, `x86`), AAVMF for `arm64`."""
    qemu_arch = QEMU_SYSTEMS[arch][2]
    env_code, env_vars = os.environ.get("PEBUILD_OVMF_CODE"), os.environ.get("PEBUILD_OVMF_VARS")
    if env_code and env_vars:
        if not (Path(env_code).is_file() and Path(env_vars).is_file()):
            raise ToolError(f"PEBUILD_OVMF_CODE/PEBUILD_OVMF_VARS do not name files: {env_code}, {env_vars}")
        return Ovmf(Path(env_code), Path(env_vars))
    candidates = [found for d in _descriptor_files() if (found := _from_descriptor(d, qemu_arch))]
    if candidates:
        return min(candidates, key=lambda c: c[0])[1]  # stable: file-name order within a rank
    for code, template in FALLBACK_OVMF[qemu_arch]:
        if Path(code).is_file() and Path(template).is_file():
            return Ovmf(Path(code), Path(template), requires_smm="secboot" in Path(code).name)
    package = OVMF_PACKAGE[qemu_arch]
    raise ToolError(
        f"no OVMF UEFI firmware for {qemu_arch} found (looked at QEMU firmware descriptors and known paths): "
        f"install the Debian package {package}"
    )


def find_nic_rom(name: str) -> Path:
    """An iPXE ROM that QEMU loads for a NIC (efi-e1000.rom for e1000); missing -> ipxe-qemu."""
    for directory in IPXE_ROM_DIRS:
        if (directory / name).is_file():
            return directory / name
    raise ToolError(f"iPXE NIC ROM {name} not found: install the Debian package ipxe-qemu")


#: OVMF's Secure Boot build and its enrolled stores on Debian (ovmf: Microsoft 2011 keys, snakeoil)
SECURE_BOOT_CODE = ("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", "/usr/share/OVMF/OVMF_CODE.secboot.fd")
SECURE_BOOT_VARS = ("/usr/share/OVMF/OVMF_VARS_4M.ms.fd", "/usr/share/OVMF/OVMF_VARS.ms.fd")


def find_secure_boot_ovmf(vars_file: Path | None = None) -> Ovmf:
    """OVMF_CODE_4M.secboot.fd (needs SMM) with an enrolled VARS store: `vars_file` or Debian's .ms.fd.

    PEBUILD_OVMF_SECBOOT_CODE overrides the code image. Secure Boot is enforced only
    when the store enrolls PK/KEK/db (Debian's .ms.fd and .snakeoil.fd do; the plain
    OVMF_VARS_4M.fd does not).
    """
    env = os.environ.get("PEBUILD_OVMF_SECBOOT_CODE")
    codes = (env,) if env else SECURE_BOOT_CODE
    code = next((Path(c) for c in codes if Path(c).is_file()), None)
    if code is None:
        raise ToolError(f"no Secure Boot OVMF ({', '.join(codes)}): install the Debian package ovmf")
    if vars_file is not None:
        if not Path(vars_file).is_file():
            raise ToolError(f"--vars does not name a file: {vars_file}")
        return Ovmf(code, Path(vars_file), requires_smm=True)
    template = next((Path(v) for v in SECURE_BOOT_VARS if Path(v).is_file()), None)
    if template is None:
        raise ToolError(
            "no enrolled OVMF variable store (OVMF_VARS_4M.ms.fd): install the Debian package ovmf"
        )
    return Ovmf(code, template, requires_smm=True)
