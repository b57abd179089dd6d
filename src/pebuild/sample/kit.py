"""The built-in sample source: an ADK-shaped kit made of tiny real programs (issue 5).

Layout for arch A (EFI name e = x64 | ia32 | aa64 | ia64; BIOS parts only for x86/amd64):

    Windows Preinstallation Environment/A/en-us/winpe.wim
    Windows Preinstallation Environment/A/Media/{bootmgr, bootmgr.efi, en-us/bootmgr.efi.mui,
        Boot/{BCD, boot.sdi, bootfix.bin, Fonts/, en-us/}, EFI/Boot/boot<e>.efi,
        EFI/Microsoft/Boot/{BCD, Fonts/, en-us/}}
    Deployment Tools/A/Oscdimg/{etfsboot.com, efisys.bin, efisys_noprompt.bin, oscdimg.exe}
    Deployment Tools/A/DISM/{imagex.exe, dism.exe, msxml6.dll, msxml6r.dll, Servicing/pkgmgr.exe}

Every boot program prints `PEBUILD-SAMPLE <its name>` (docs/sample.md lists them).
Everything is pinned to one timestamp and stable GUIDs, so the kit is
byte-identical from run to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from pebuild import __version__
from pebuild.arches import BIOS_ARCHES, EFI_NAME
from pebuild.clock import stable_guid
from pebuild.errors import OutputError, UsageError
from pebuild.outputs import TREE, Output, OutputOptions, Transaction, plan_outputs
from pebuild.sample.bootsets import put_ex_set, sample_boot_sets
from pebuild.sample.hives import sample_hives
from pebuild.sample.stubs import (
    ARCHES,
    bios_program,
    bootmgr_program,
    efi_program,
    etfsboot_program,
    pe_standin,
)
from pebuild.sample.stubs.pxe import (
    bootmgfw_program,
    bootmgr_exe_program,
    cdboot_program,
    pxeboot_program,
)

#: bump when the kit's layout or content changes (part of the cache directory name); 4: signed 2011
#: set + the 2023 _EX set (issue 14); 5: the BIOS stand-ins' new bytes (shared includes, issue 20i)
KIT_FORMAT = 5
#: the default time stamp of every file, hive and WIM entry: 2024-01-01T00:00:00Z
SAMPLE_EPOCH = 1_704_067_200
WPE = "Windows Preinstallation Environment"
DT = "Deployment Tools"
FONTS = ("segmono_boot.ttf", "segoe_slboot.ttf", "wgl4_boot.ttf")
STAMP = "pebuild-sample.json"
README = """\
pebuild sample source ({arch})
==============================

This is NOT Microsoft's Windows ADK. pebuild made this tree as a stand-in with
the same layout, so the whole pipeline (build, ISO, PXE, USB, smoke boot) can run
where Microsoft's files cannot be downloaded. Every boot program here is a tiny
program that prints "PEBUILD-SAMPLE <its file name>" on COM1 and the screen and
powers the machine off; winpe.wim holds a WinPE-shaped tree with small real
registry hives. To build real media, install the Windows ADK + WinPE add-on and
pass its folder: pebuild make {arch} --source "C:/Program Files (x86)/Windows Kits/10/Assessment and Deployment Kit" ...
"""


def marker(name: str) -> str:
    """The serial marker a sample boot program prints."""
    return f"PEBUILD-SAMPLE {name}"


def cache_version() -> str:
    """pebuild version + a digest of the sample's own code, so any change rebuilds the cache."""
    digest = hashlib.sha256(f"{KIT_FORMAT}".encode())
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{__version__}-{digest.hexdigest()[:12]}"


def _check_arch(arch: str) -> None:
    if arch not in ARCHES:
        raise UsageError(f"unknown arch {arch!r} (expected one of {', '.join(ARCHES)})")


def _efisys(arch: str, noprompt: bool, timestamp: int) -> bytes:
    from pebuild.fat import efisys_image

    efi = EFI_NAME[arch]
    text = marker(f"boot{efi}.efi") + (" noprompt" if noprompt else "")
    volume_id = stable_guid("pebuild-sample", arch, "efisys", noprompt).int & 0xFFFFFFFF
    return efisys_image(
        {f"EFI/BOOT/BOOT{efi.upper()}.EFI": cdboot_program(text, arch)},
        timestamp=timestamp,
        volume_id=volume_id,
    )


def _bcds(arch: str, timestamp: int) -> dict[str, bytes]:
    from pebuild.bcd import presets

    options = presets.PresetOptions()
    stores = {"bcd-efi": presets.create("iso-uefi", options, timestamp=timestamp).serialize(timestamp)}
    if arch in BIOS_ARCHES:
        stores["bcd-pcat"] = presets.create("iso-bios", options, timestamp=timestamp).serialize(timestamp)
    return stores


def _boot_sdi(timestamp: int) -> bytes:
    from pebuild.sdi import create_sdi

    return bytes(create_sdi(timestamp=timestamp))


def boot_files(arch: str, timestamp: int = SAMPLE_EPOCH) -> dict[str, bytes]:
    """Logical boot file name (as pebuild.source names them) -> the sample's bytes."""
    _check_arch(arch)
    files: dict[str, bytes] = {
        "bootmgr.efi": efi_program(marker("bootmgr.efi"), arch),
        "bootmgfw.efi": bootmgfw_program(marker("bootmgfw.efi"), arch),  # PXE-aware on amd64 (issue 13)
        "winload.efi": efi_program(marker("winload.efi"), arch),
        "efisys.bin": _efisys(arch, False, timestamp),
        "efisys_noprompt.bin": _efisys(arch, True, timestamp),
    }
    if arch in BIOS_ARCHES:
        files["etfsboot.com"] = etfsboot_program()  # loads \\bootmgr from the disc (issue 20)
        files["bootmgr"] = bootmgr_program(marker("bootmgr"), size=8192)
        files["bootfix.bin"] = bios_program(marker("bootfix.bin"), size=1024)
        files["winload.exe"] = pe_standin("winload.exe", arch, "boot_application")
        for name in ("abortpxe.com", "wdsnbp.com"):
            files[f"pxe/{name}"] = bios_program(marker(name))
        for name in ("pxeboot.n12", "pxeboot.com"):
            files[f"pxe/{name}"] = pxeboot_program(marker(name))
        files["pxe/bootmgr.exe"] = bootmgr_exe_program(marker("bootmgr.exe"))
    files["boot.sdi"] = _boot_sdi(timestamp)
    files.update(_bcds(arch, timestamp))
    files.update(sample_boot_sets(arch, timestamp, FONTS))  # Secure Boot: signed 2011 + 2023 _EX sets
    for font in FONTS:
        files[f"fonts/{font}"] = f"pebuild sample stand-in for {font}; not a font\n".encode()
    return files


def _put(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _image_tree(stage: Path, arch: str, files: dict[str, bytes], timestamp: int) -> None:
    """The WinPE-shaped tree captured into winpe.wim."""
    s32 = "Windows/System32"
    _put(stage, f"{s32}/startnet.cmd", b"wpeinit\r\n")
    for name, data in sample_hives(arch, timestamp).items():
        _put(stage, f"{s32}/config/{name}", data)
    for tool in ("cmd.exe", "wpeinit.exe", "winpeshl.exe", "wpeutil.exe", "drvload.exe", "reg.exe"):
        _put(stage, f"{s32}/{tool}", pe_standin(tool, arch))
    _put(stage, f"{s32}/boot/winload.efi", files["winload.efi"])
    _put(stage, "Windows/Boot/EFI/bootmgfw.efi", files["bootmgfw.efi"])
    _put(stage, "Windows/Boot/EFI/bootmgr.efi", files["bootmgr.efi"])
    _put(stage, "Windows/Boot/DVD/EFI/BCD", files["bcd-efi"])
    _put(stage, "Windows/Boot/DVD/EFI/en-US/efisys.bin", files["efisys.bin"])
    _put(stage, "Windows/Boot/DVD/EFI/en-US/efisys_noprompt.bin", files["efisys_noprompt.bin"])
    _put(stage, "Windows/Boot/DVD/EFI/boot.sdi", files["boot.sdi"])
    if arch in BIOS_ARCHES:
        _put(stage, f"{s32}/boot/winload.exe", files["winload.exe"])
        _put(stage, "Windows/Boot/PCAT/bootmgr", files["bootmgr"])
        _put(stage, "Windows/Boot/PCAT/bootfix.bin", files["bootfix.bin"])
        _put(stage, "Windows/Boot/DVD/PCAT/BCD", files["bcd-pcat"])
        _put(stage, "Windows/Boot/DVD/PCAT/etfsboot.com", files["etfsboot.com"])
        _put(stage, "Windows/Boot/DVD/PCAT/boot.sdi", files["boot.sdi"])
        for name in ("pxeboot.n12", "pxeboot.com", "bootmgr.exe", "abortpxe.com", "wdsnbp.com"):
            _put(stage, f"Windows/Boot/PXE/{name}", files[f"pxe/{name}"])
    for font in FONTS:
        _put(stage, f"Windows/Boot/Fonts/{font}", files[f"fonts/{font}"])
    put_ex_set(_put, stage, files)
    (stage / "Program Files").mkdir()
    (stage / "Users" / "Default").mkdir(parents=True)
    (stage / "Windows" / "Temp").mkdir()


def _media_tree(media: Path, arch: str, files: dict[str, bytes]) -> None:
    """The ADK's Media folder: what copype copies to media/."""
    efi = EFI_NAME[arch]
    _put(media, "bootmgr.efi", files["bootmgr.efi"])
    _put(media, "en-us/bootmgr.efi.mui", pe_standin("bootmgr.efi.mui", arch, "windows"))
    _put(
        media, f"EFI/Boot/boot{efi}.efi", files["bootmgfw.efi"]
    )  # the ADK ships bootmgfw.efi under this name
    _put(media, "EFI/Microsoft/Boot/BCD", files["bcd-efi"])
    _put(media, "EFI/Microsoft/Boot/en-us/bootmgfw.efi.mui", pe_standin("bootmgfw.efi.mui", arch, "windows"))
    _put(media, "Boot/boot.sdi", files["boot.sdi"])
    if arch in BIOS_ARCHES:
        _put(media, "bootmgr", files["bootmgr"])
        _put(media, "Boot/BCD", files["bcd-pcat"])
        _put(media, "Boot/bootfix.bin", files["bootfix.bin"])
        _put(media, "Boot/en-us/bootmgr.exe.mui", pe_standin("bootmgr.exe.mui", arch, "windows"))
    for font in FONTS:
        _put(media, f"Boot/Fonts/{font}", files[f"fonts/{font}"])
        _put(media, f"EFI/Microsoft/Boot/Fonts/{font}", files[f"fonts/{font}"])


def _tools(root: Path, arch: str, files: dict[str, bytes]) -> None:
    oscdimg = root / DT / arch / "Oscdimg"
    if arch in BIOS_ARCHES:
        _put(oscdimg, "etfsboot.com", files["etfsboot.com"])
    _put(oscdimg, "efisys.bin", files["efisys.bin"])
    _put(oscdimg, "efisys_noprompt.bin", files["efisys_noprompt.bin"])
    for name in ("efisys_EX.bin", "efisys_noprompt_EX.bin"):  # as in ADK 10.1.26100.2454+
        _put(oscdimg, name, files[name])
    _put(oscdimg, "oscdimg.exe", pe_standin("oscdimg.exe", arch))
    dism = root / DT / arch / "DISM"
    for tool in ("imagex.exe", "dism.exe"):
        _put(dism, tool, pe_standin(tool, arch))
    for dll in ("msxml6.dll", "msxml6r.dll"):
        _put(dism, dll, pe_standin(dll, arch, "windows"))
    _put(dism, "Servicing/pkgmgr.exe", pe_standin("pkgmgr.exe", arch))


def _pin_times(root: Path, timestamp: int) -> None:
    """Every file and directory gets the same atime/mtime (bottom-up so parents stay pinned)."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(Path(dirpath) / name, (timestamp, timestamp), follow_symlinks=False)
    os.utime(root, (timestamp, timestamp))


def _capture(stage: Path, wim_path: Path, arch: str, timestamp: int) -> None:
    from pebuild.wim import capture

    name = f"Microsoft Windows PE ({arch})"
    guid = stable_guid("pebuild-sample", arch, "winpe.wim").bytes
    capture(stage, wim_path, name=name, description=name, boot=True, guid=guid, timestamp=timestamp)


def _populate(root: Path, arch: str, timestamp: int) -> dict[str, object]:
    files = boot_files(arch, timestamp)
    arch_dir = root / WPE / arch
    (arch_dir / "en-us").mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix=".stage-", dir=root) as tmp:
        stage = Path(tmp) / "image"
        stage.mkdir()
        _image_tree(stage, arch, files, timestamp)
        _pin_times(stage, timestamp)
        _capture(stage, arch_dir / "en-us" / "winpe.wim", arch, timestamp)
    _media_tree(arch_dir / "Media", arch, files)
    _tools(root, arch, files)
    (root / "README.txt").write_text(README.format(arch=arch))
    info: dict[str, object] = {
        "arch": arch,
        "kit_format": KIT_FORMAT,
        "pebuild": __version__,
        "timestamp": timestamp,
        "note": "synthetic stand-in for the Windows ADK; see README.txt",
    }
    (root / STAMP).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    _pin_times(root, timestamp)
    return info


def build_sample_source(
    dest: Path,
    arch: str,
    timestamp: int | None = None,
    *,
    replace: bool = False,
    options: OutputOptions | None = None,
) -> Path:
    """Write the sample kit for `arch` to `dest` through pebuild.outputs; returns `dest`.

    An existing `dest` is replaced only if empty or a sample kit pebuild wrote and
    nobody changed (`options.force` overrides); `replace`: always (the cache).
    """
    _check_arch(arch)
    dest = Path(dest)
    if replace:
        dest.parent.mkdir(parents=True, exist_ok=True)
        options = OutputOptions(force=True)
    plan = plan_outputs([Output("sample-source", dest, TREE)])
    with Transaction(plan, options) as tx:
        _populate(tx.path("sample-source"), arch, SAMPLE_EPOCH if timestamp is None else timestamp)
        tx.publish()
    return dest


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pebuild" / "sample" / cache_version()


def sample_source_path(arch: str) -> Path:
    """The sample kit for `arch`, built once per version into the user's cache.

    A file lock serialises builders (pytest -n 2, parallel make); the tree is
    renamed into place complete, so a reader never sees half a kit.
    """
    import fcntl

    _check_arch(arch)
    root = cache_root()
    target = root / arch
    if (target / STAMP).is_file():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f".{arch}.lock", "w")  # noqa: SIM115 - held across the build
    except OSError as exc:
        raise OutputError(f"cannot create the sample cache: {exc.strerror}", path=root) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / STAMP).is_file():
            if target.exists():
                shutil.rmtree(target)
            build_sample_source(target, arch, replace=True)
    return target
