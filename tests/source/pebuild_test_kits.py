"""Generate WinPE-shaped sources for tests: ADK, WAIK, install tree / ISO, bare WIM.

The boot programs are the sample stand-ins (real BIOS/EFI programs that print a
marker), the image is captured with pebuild.wim and read back by wimlib-imagex
in the tests. `omit` leaves named parts out to test "source lacks X" errors.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pebuild.fat import efisys_image
from pebuild.sample.stubs import bios_program, bootmgr_program, efi_program, etfsboot_program, pe_standin
from pebuild.wim import capture

EFI = {"x86": "ia32", "amd64": "x64", "arm64": "aa64", "ia64": "ia64"}
T0 = 1_700_000_000


def bios(name: str) -> bytes:
    """The sample's BIOS stand-in for `name`, printing `PEBUILD-SAMPLE <name>` (its marker convention).

    etfsboot.com and bootmgr are the chaining ones (issue 20): etfsboot.com loads \\bootmgr from
    the disc and prints no marker; bootmgr checks it was loaded whole and reads the BCD, boot.sdi
    and boot.wim on a CD, so a media built from these kits boots only when it is complete.
    """
    if name == "etfsboot.com":
        return etfsboot_program()
    if name == "bootmgr":
        return bootmgr_program(f"PEBUILD-SAMPLE {name}")
    return bios_program(f"PEBUILD-SAMPLE {name}")


def efi(name: str, arch: str) -> bytes:
    return efi_program(f"PEBUILD-SAMPLE {name}", arch)


def _w(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def image_tree(dest: Path, arch: str, omit: tuple[str, ...] = ()) -> Path:
    """A WinPE-shaped directory: System32, config hives (placeholders), Windows/Boot."""
    efi_app = efi("bootmgfw.efi", arch)
    files = {
        "Windows/System32/startnet.cmd": b"wpeinit\r\n",
        "Windows/System32/winpeshl.ini": b"[LaunchApps]\r\n%SYSTEMROOT%\\System32\\cmd.exe\r\n",
        "Windows/System32/setup.exe": pe_standin("setup.exe", arch),
        "Windows/System32/config/SYSTEM": b"regf-placeholder",
        "Windows/Boot/PCAT/bootmgr": bios("bootmgr"),
        "Windows/Boot/EFI/bootmgfw.efi": efi_app,
        "Windows/Boot/EFI/bootmgr.efi": efi(f"bootmgr.efi {arch}", arch),
        "Windows/Boot/DVD/PCAT/etfsboot.com": bios("etfsboot.com"),
        "Windows/Boot/DVD/PCAT/boot.sdi": b"$SDI0001" + bytes(4088),
        "Windows/Boot/DVD/PCAT/BCD": b"regf-bcd",
        "Windows/Boot/DVD/EFI/BCD": b"regf-bcd-efi",
        "Windows/Boot/DVD/EFI/en-US/efisys.bin": efisys_image(
            {f"EFI/BOOT/BOOT{EFI[arch].upper()}.EFI": efi_app}
        ),
        "Windows/Boot/DVD/EFI/en-US/efisys_noprompt.bin": efisys_image(
            {f"EFI/BOOT/BOOT{EFI[arch].upper()}.EFI": efi("bootmgfw.efi noprompt", arch)}
        ),
        "Windows/Boot/Fonts/wgl4_boot.ttf": b"font",
        "Windows/Boot/PXE/pxeboot.n12": bios("pxeboot.n12"),
        "Windows/Boot/PXE/bootmgr.exe": pe_standin("bootmgr.exe", "x86"),
    }
    for rel, data in files.items():
        if rel.rsplit("/", 1)[-1] not in omit:
            _w(dest / rel, data)
    return dest


def make_wim(dest: Path, arch: str, work: Path, images: int = 1, omit: tuple[str, ...] = ()) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tree = image_tree(work / f"tree-{arch}", arch, omit)
    for i in range(1, images + 1):
        capture(
            tree,
            dest,
            name=f"Microsoft Windows PE ({arch}) {i}",
            append=i > 1,
            boot=(i == images),
            timestamp=T0,
        )
    return dest


def media_tree(media: Path, arch: str, omit: tuple[str, ...] = ()) -> None:
    efi_app = efi(f"boot{EFI[arch]}.efi", arch)
    files = {
        "bootmgr": bios("bootmgr"),
        "bootmgr.efi": efi(f"bootmgr.efi {arch}", arch),
        "Boot/BCD": b"regf-bcd",
        "Boot/boot.sdi": b"$SDI0001" + bytes(4088),
        "Boot/bootfix.bin": bios("bootfix.bin"),
        "Boot/Fonts/wgl4_boot.ttf": b"font",
        f"EFI/Boot/boot{EFI[arch]}.efi": efi_app,
        "EFI/Microsoft/Boot/BCD": b"regf-bcd-efi",
        "EFI/Microsoft/Boot/Fonts/wgl4_boot.ttf": b"font",
    }
    for rel, data in files.items():
        if rel not in omit:
            _w(media / rel, data)


def fw_files(dest: Path, arch: str, omit: tuple[str, ...] = ()) -> None:
    boot = f"EFI/BOOT/BOOT{EFI[arch].upper()}.EFI"
    files = {
        "etfsboot.com": bios("etfsboot.com"),
        "efisys.bin": efisys_image({boot: efi(f"boot{EFI[arch]}.efi", arch)}),
        "efisys_noprompt.bin": efisys_image({boot: efi(f"boot{EFI[arch]}.efi noprompt", arch)}),
    }
    for rel, data in files.items():
        if rel not in omit:
            _w(dest / rel, data)


def make_adk(
    root: Path, arch: str, work: Path, omit: tuple[str, ...] = (), tool_arch: str | None = None
) -> Path:
    wpe = root / "Windows Preinstallation Environment" / arch
    if "winpe.wim" not in omit:
        (wpe / "en-us").mkdir(parents=True, exist_ok=True)
        make_wim(wpe / "en-us" / "winpe.wim", arch, work, omit=omit)
    media_tree(wpe / "Media", arch, omit)
    dt = root / "Deployment Tools" / arch
    fw_files(dt / "Oscdimg", arch, omit)
    ta = tool_arch or arch
    _w(dt / "DISM" / "imagex.exe", pe_standin("imagex.exe", ta))
    _w(dt / "DISM" / "Servicing" / "pkgmgr.exe", pe_standin("pkgmgr.exe", ta))
    _w(dt / "DISM" / "msxml6.dll", pe_standin("msxml6.dll", ta))
    _w(dt / "DISM" / "msxml6r.dll", pe_standin("msxml6r.dll", ta))
    return root


def make_waik(root: Path, arch: str, work: Path) -> Path:
    pt = root / "Tools" / "PETools" / arch
    make_wim(pt / "winpe.wim", arch, work)
    media_tree(pt, arch)
    fw_files(pt / "boot", arch)
    _w(root / "Tools" / arch / "imagex.exe", pe_standin("imagex.exe", arch))
    return root


def make_install_tree(root: Path, arch: str, work: Path) -> Path:
    (root / "sources").mkdir(parents=True, exist_ok=True)
    make_wim(root / "sources" / "boot.wim", arch, work, images=2)
    media_tree(root, arch)
    _w(root / "boot" / "etfsboot.com", bios("etfsboot.com"))
    _w(
        root / "efi" / "microsoft" / "boot" / "efisys.bin",
        efisys_image({f"EFI/BOOT/BOOT{EFI[arch].upper()}.EFI": efi(f"boot{EFI[arch]}.efi", arch)}),
    )
    return root


def make_install_iso(iso: Path, arch: str, work: Path, *, udf: bool = False) -> Path:
    tree = make_install_tree(work / "install-tree", arch, work)
    if udf:
        cmd = ["genisoimage", "-quiet", "-udf", "-J", "-o", str(iso), str(tree)]
    else:
        cmd = ["xorriso", "-as", "mkisofs", "-quiet", "-J", "-R", "-o", str(iso), str(tree)]
    subprocess.run(cmd, check=True, capture_output=True)
    return iso
