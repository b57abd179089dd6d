"""`pebuild check MEDIA`: every EFI boot program of the media and whether it boots on each profile.

Where UEFI firmware starts a program (UEFI 2.10 §3.5 removable media, El
Torito 1.0, PXE): `EFI/BOOT/BOOT<arch>.EFI` of a disk, USB image or media
tree; the same path inside the El Torito EFI image (efisys.bin) of an ISO;
the NBP of a PXE tree (`Boot/<arch>/bootmgfw.efi`, `wdsmgfw.efi`, wimboot).
Those are "on the boot path": the media boots on a profile when all of them
do. Everything else found is reported too (bootmgr.efi, efisys*.bin copies,
the `EFI`/`EFI_EX`/`PXE`/`PXE_EX`/`DVD_EX` files inside boot.wim and winre.wim)
so old boot managers left inside are visible. For a WIM or a kit the question
is what media built from it can do: a profile is met when one of its boot
manager sets boots there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.errors import FormatError, UsageError
from pebuild.fat.reader import FatVolume
from pebuild.pe.inspect import boot_security_version, inspect_pe, is_pe
from pebuild.secureboot.dbx import Dbx, load_dbx
from pebuild.secureboot.verdict import PROFILES, EfiVerdict, component_of, evaluate
from pebuild.secureboot.volumes import (
    DirVolume,
    FatFiles,
    IsoVolume,
    Volume,
    disk_fat_offsets,
    el_torito_efi_images,
    fat_from_bytes,
    wim_boot_tree,
)

_EFI_BOOT = re.compile(r"(?i)^efi/boot/boot[a-z0-9]+\.efi$")
_ANY_EFI_BOOT = re.compile(r"(?i)(^|/)efi/boot/boot[a-z0-9]+\.efi$")
_PXE_NBP = re.compile(r"(?i)^boot/[^/]+/[^/]+\.efi$|(^|/)wimboot[^/]*$")
_EFISYS = re.compile(r"(?i)(^|/)efisys[^/]*\.bin$")
_WIM = re.compile(r"(?i)(^|/)(boot|winre|winpe)\.wim$")
_PROGRAM = re.compile(r"(?i)\.efi$|(^|/)wimboot[^/]*$")
REQUIRE_ALL = "all"


@dataclass
class CheckRequest:
    media: Path
    require: list[str] = field(default_factory=list)  # profile ids, or ["all"]
    dbx: Path | None = None
    test_keys: bool | None = None  # None: only when the media carry the sample's TEST signatures
    scan_wims: bool = True


@dataclass
class CheckResult:
    media: str
    kind: str  # iso | usb | media-tree | pxe-tree | wim | kit
    programs: list[EfiVerdict]
    boots: dict[str, bool]
    required: list[str]
    warnings: list[str]
    dbx: dict[str, Any]
    test_keys: bool

    @property
    def ok(self) -> bool:
        return all(self.boots[p] for p in self.required)

    def to_json(self) -> dict[str, Any]:
        return {
            "media": self.media,
            "kind": self.kind,
            "ok": self.ok,
            "required": self.required,
            "boots": self.boots,
            "profiles": {p.id: p.title for p in PROFILES.values()},
            "programs": [v.to_json() for v in self.programs],
            "warnings": self.warnings,
            "dbx": self.dbx,
            "test_keys": self.test_keys,
        }


@dataclass
class _Found:
    location: str
    data: bytes
    on_boot_path: bool
    component: str | None = None


def _programs(vol: Volume, prefix: str, kind: str, scan_wims: bool, depth: int = 0) -> list[_Found]:
    """EFI programs, efisys images and WIMs of one volume, recursively (FAT inside WIM inside ISO)."""
    out: list[_Found] = []
    for rel in vol.files():
        low = rel.lower()
        if _EFISYS.search(low):
            out += _efisys(vol.read(rel), f"{prefix}{rel}", False)
        elif _PROGRAM.search(low):
            on_path = bool(_EFI_BOOT.match(rel)) if kind in ("media", "fat") else False
            if kind == "pxe":
                on_path = bool(_PXE_NBP.search(rel))
            component = "bootmgfw" if _ANY_EFI_BOOT.search(rel) and kind != "pxe" else None
            if kind == "efisys":
                on_path, component = _EFI_BOOT.match(rel) is not None and depth == 0, "cdboot"
            out.append(_Found(f"{prefix}{rel}", vol.read(rel), on_path, component))
        elif scan_wims and _WIM.search(low) and depth < 2 and isinstance(vol, DirVolume):
            out += _wim_programs(vol.path(rel), f"{prefix}{rel}:", depth + 1)
        elif scan_wims and _WIM.search(low) and depth < 2 and isinstance(vol, IsoVolume):
            import tempfile

            with tempfile.TemporaryDirectory(prefix="pebuild-check-") as tmp:
                dest = Path(tmp) / "x.wim"
                vol.reader.extract(f"/{rel}", dest)
                out += _wim_programs(dest, f"{prefix}{rel}:", depth + 1)
    return out


def _efisys(data: bytes, location: str, on_path: bool) -> list[_Found]:
    from pebuild.fat import is_fat_image

    if not is_fat_image(data):
        return []
    vol = fat_from_bytes(data, location)
    found = _programs(vol, f"{location}:", "efisys", False)
    for f in found:
        f.on_boot_path = f.on_boot_path and on_path
    return found


def _wim_programs(path: Path, prefix: str, depth: int) -> list[_Found]:
    with wim_boot_tree(path) as tree:
        if tree is None:
            return []
        return _programs(tree, prefix, "wim", True, depth)


def media_kind(path: Path) -> str:
    if path.is_dir():
        from pebuild.fsutil import find_case_insensitive

        if find_case_insensitive(path, "efi/boot") or find_case_insensitive(path, "sources/boot.wim"):
            return "media"
        boot = find_case_insensitive(path, "boot")
        if boot is not None and any(
            p.is_dir() and any(p.glob("*.efi")) for p in boot.iterdir() if p.is_dir()
        ):
            return "pxe"
        if any(path.glob("wimboot*")):
            return "pxe"
        return "kit"
    if not path.is_file():
        raise UsageError(f"media not found: {path}")
    with open(path, "rb") as fh:
        fh.seek(0x8001)
        if fh.read(5) == b"CD001":
            return "iso"
        if path.suffix.lower() in (".wim", ".esd"):
            return "wim"
        fh.seek(0)
        if fh.read(8) == b"MSWIM\0\0\0":
            return "wim"
    return "usb"


def _collect(path: Path, kind: str, scan_wims: bool) -> list[_Found]:
    if kind in ("media", "pxe", "kit"):
        return _programs(DirVolume(path), "", kind, scan_wims)
    if kind == "wim":
        return _wim_programs(path, "", 0)
    if kind == "iso":
        out: list[_Found] = []
        with open(path, "rb") as fh:
            for n, (offset, _sectors) in enumerate(el_torito_efi_images(fh, path)):
                try:
                    vol = FatFiles(FatVolume(fh, offset, name=f"{path}:El Torito EFI image"))
                except FormatError:
                    continue
                for f in _programs(vol, f"El Torito EFI image {n + 1}:", "efisys", False):
                    out.append(_Found(f.location, f.data, f.on_boot_path, "cdboot"))
        iso = IsoVolume(path)
        try:
            out += _programs(iso, "", "media", scan_wims)
        finally:
            iso.close()
        return out
    out = []
    with open(path, "rb") as fh:
        offsets = disk_fat_offsets(fh, path)
        if not offsets:
            raise FormatError("not an ISO, WIM or disk image with a FAT partition", path=path)
        for n, offset in enumerate(offsets):
            vol = FatFiles(FatVolume(fh, offset, name=f"{path}@{offset}"))
            label = f"partition {n + 1}:" if len(offsets) > 1 else ""
            out += _programs(vol, label, "fat", False)
    return out


def _uses_test_keys(found: list[_Found]) -> bool:
    return any(b"pebuild TEST" in f.data for f in found)


def check_media(req: CheckRequest) -> CheckResult:
    """Verdicts for every EFI program of `req.media`; `ok` when it boots on every required profile."""
    required = list(PROFILES) if REQUIRE_ALL in req.require else list(dict.fromkeys(req.require))
    unknown = [p for p in required if p not in PROFILES]
    if unknown:
        raise UsageError(f"unknown profile {unknown[0]!r} (one of {', '.join(PROFILES)}, or all)")
    dbx = load_dbx(req.dbx)
    path = Path(req.media)
    if not path.exists():
        raise UsageError(f"media not found: {path}")
    kind = media_kind(path)
    found = _collect(path, kind, req.scan_wims)
    test_keys = _uses_test_keys(found) if req.test_keys is None else req.test_keys
    programs = [v for f in found if (v := _verdict(f, dbx, test_keys)) is not None]
    display = {"media": "media-tree", "pxe": "pxe-tree", "fat": "usb"}.get(kind, kind)
    return CheckResult(
        media=str(path),
        kind=display,
        programs=programs,
        boots=media_boots(programs, kind),
        required=required,
        warnings=_warnings(programs, kind),
        dbx=dbx.describe(),
        test_keys=test_keys,
    )


def _verdict(f: _Found, dbx: Dbx, test_keys: bool) -> EfiVerdict | None:
    if not is_pe(f.data):
        return None
    try:
        info = inspect_pe(f.data, name=f.location)
    except FormatError:
        return None
    component = f.component or component_of(f.location)
    v = evaluate(
        f.data, f.location, dbx, test_keys=test_keys, svn=boot_security_version(f.data), component=component
    )
    v.on_boot_path = f.on_boot_path
    v.machine_arch = info.arch
    return v


def media_boots(programs: list[EfiVerdict], kind: str) -> dict[str, bool]:
    """Per profile: media kinds need every boot-path program to boot; a WIM or kit needs one boot manager."""
    out = {}
    for pid in PROFILES:
        if kind in ("wim", "kit"):
            managers = [v for v in programs if v.component == "bootmgfw"]
            out[pid] = any(v.boots[pid] for v in managers)
        else:
            path = [v for v in programs if v.on_boot_path]
            out[pid] = bool(path) and all(v.boots[pid] for v in path)
    return out


def _warnings(programs: list[EfiVerdict], kind: str) -> list[str]:
    out = []
    if kind not in ("wim", "kit") and not any(v.on_boot_path for v in programs):
        out.append("no EFI boot program found on the UEFI boot path (EFI/BOOT/BOOT<arch>.EFI)")
    inner = sorted(
        {
            v.location.split(":", 1)[0]
            for v in programs
            if ".wim:" in v.location.lower()
            and v.ca.ca_id == "windows-pca-2011"
            and v.component == "bootmgfw"
        }
    )
    for wim in inner:
        out.append(
            f"{wim} still carries PCA 2011-signed boot managers: media rebuilt from it, and Setup's "
            "first reboot, use them (fails on 2023-enforced machines)"
        )
    return out
