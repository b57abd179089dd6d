"""`pebuild update-media`: Make2023BootableMedia.ps1 on Linux, reproducibly.

Microsoft's script (v1.4, docs/secureboot.md §4) mounts the media's
sources\\boot.wim index 1, requires `Windows\\Boot\\EFI_EX`, `DVD_EX`, `FONTS_EX`
("apply 2024-4B or later"), copies bootmgfw_EX.efi over efi\\boot\\bootx64.efi
(bootaa64.efi on arm64 media), bootmgr_EX.efi over \\bootmgr.efi,
DVD_EX\\EFI\\en-US\\efisys_EX.bin to efi\\microsoft\\boot\\efisys_ex.bin, the
`*_EX.ttf` fonts over efi\\microsoft\\boot\\fonts\\*.ttf, boot.stl when absent,
and rebuilds the ISO with efisys_ex.bin as the UEFI El Torito image. It leaves
boot.wim, install.wim, winre.wim, the BCDs and the BIOS boot alone; so do we.
Differences: the ISO (and the USB image) are written with pebuild.iso /
pebuild.usb at a pinned time (SOURCE_DATE_EPOCH), the input is never touched,
SkuSiPolicy.p7b is never copied (0xc0000428, pbatard/rufus#2919), and the
verdicts before and after are reported.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild import clock
from pebuild.errors import FormatError, OutputError, SourceError, UsageError
from pebuild.fsutil import copy_file, find_case_insensitive, safe_join
from pebuild.iso.catalog import ISO_SECTOR, PLATFORM_X86, read_boot_catalog
from pebuild.progress import Progress
from pebuild.secureboot.check import CheckRequest, CheckResult, check_media, media_kind
from pebuild.secureboot.volumes import IsoVolume

#: what the script takes from boot.wim -> where it goes on the media (DVD_EX source chosen by `prompt`)
EX_DIRS = ("Windows/Boot/EFI_EX", "Windows/Boot/DVD_EX", "Windows/Boot/FONTS_EX", "Windows/Boot/EFI/boot.stl")
NEVER_COPY = "skusipolicy.p7b"


@dataclass
class UpdateRequest:
    media: Path  # an ISO or a media tree
    output: Path | None = None  # new ISO
    usb_output: Path | None = None  # new USB image
    boot_wim: Path | None = None  # default: the media's sources/boot.wim
    boot_manager: str = "2023"
    prompt: bool = True  # efisys_EX.bin ("Press any key"); False: efisys_noprompt_EX.bin
    label: str | None = None  # default: the input ISO's volume label
    timestamp: int | None = None
    force: bool = False  # replace existing outputs
    test_keys: bool | None = None
    dbx: Path | None = None


@dataclass
class UpdateResult:
    before: CheckResult
    after: list[CheckResult]
    replaced: list[str]
    outputs: list[Path]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "before": self.before.to_json(),
            "after": [a.to_json() for a in self.after],
            "replaced": self.replaced,
            "outputs": [str(p) for p in self.outputs],
            "warnings": self.warnings,
        }


def _check_request(req: UpdateRequest) -> None:
    if req.boot_manager != "2023":
        raise UsageError("update-media writes the 2023 boot manager only (--boot-manager 2023)")
    if req.output is None and req.usb_output is None:
        raise UsageError("nothing to write: give -o OUT.iso and/or --usb OUT.img")
    src = Path(req.media).resolve()
    for out in (req.output, req.usb_output):
        if out is None:
            continue
        if Path(out).resolve() == src or Path(out).resolve().is_relative_to(src):
            raise UsageError("the output must not be the input media or lie inside it", path=out)
        if Path(out).exists() and not req.force:
            raise OutputError("exists; pass --force to replace it", path=out)


def update_media(req: UpdateRequest, progress: Progress | None = None) -> UpdateResult:
    """Write new media with the 2023 boot files of the media's own boot.wim; the input stays as it was."""
    _check_request(req)
    media = Path(req.media)
    kind = media_kind(media)
    if kind not in ("iso", "media"):
        raise UsageError(f"update-media takes an ISO or a media tree, not a {kind}", path=media)
    before = check_media(CheckRequest(media, test_keys=req.test_keys, dbx=req.dbx))
    t = clock.build_time(req.timestamp)
    anchor = next(p for p in (req.output, req.usb_output) if p is not None)
    work = Path(tempfile.mkdtemp(prefix=".pebuild-update-", dir=Path(anchor).resolve().parent))
    try:
        stage = work / "media"
        label, bios = _stage(media, kind, stage, work)
        wim = Path(req.boot_wim) if req.boot_wim else find_case_insensitive(stage, "sources/boot.wim")
        if wim is None or not wim.is_file():
            raise SourceError("no sources/boot.wim on the media: give --boot-wim WIM", path=media)
        ex = _extract_ex(wim, work / "ex")
        replaced, uefi = _replace(stage, ex, req.prompt)
        outputs = _write_outputs(req, stage, bios, uefi, req.label or label, t, progress)
        after = [check_media(CheckRequest(p, test_keys=req.test_keys, dbx=req.dbx)) for p in outputs]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    warnings = [w for w in before.warnings if ".wim" in w]
    return UpdateResult(before, after, replaced, outputs, warnings)


def _stage(media: Path, kind: str, stage: Path, work: Path) -> tuple[str, Path | None]:
    """Copy the media into `stage`; (volume label, BIOS El Torito image or None)."""
    if kind == "media":
        shutil.copytree(media, stage, copy_function=_copy, symlinks=False)
        bios = find_case_insensitive(stage, "boot/etfsboot.com")
        return "WINPE", bios
    iso = IsoVolume(media)
    try:
        for rel in iso.files():
            target = safe_join(stage, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            iso.reader.extract(f"/{rel}", target)
    finally:
        iso.close()
    with open(media, "rb") as fh:
        fh.seek(16 * ISO_SECTOR + 40)
        label = fh.read(32).decode("ascii", "replace").strip() or "WINPE"
        bios_image = _bios_image(fh, media)
    bios = find_case_insensitive(stage, "boot/etfsboot.com")
    if bios is None and bios_image is not None:
        bios = work / "etfsboot.com"
        bios.write_bytes(bios_image)
    return label, bios


def _bios_image(fh: Any, path: Path) -> bytes | None:
    """The no-emulation BIOS image of the boot catalog's initial entry (platform 0), as oscdimg wrote it."""
    try:
        catalog = read_boot_catalog(fh, path=path)
    except FormatError:
        return None
    if catalog is None or catalog.platform != PLATFORM_X86 or not catalog.entries[0].bootable:
        return None
    entry = catalog.entries[0]
    fh.seek(entry.offset)
    return bytes(fh.read(max(entry.sector_count, 4) * 512))


def _extract_ex(wim: Path, dest: Path) -> Path:
    from pebuild.wim import Wim

    with Wim.open(wim) as w:
        present = [p for p in EX_DIRS if w.exists(1, p)]
        missing = [p for p in EX_DIRS[:2] if p not in present]
        if missing:
            raise SourceError(
                f"boot.wim image 1 has no {', '.join(missing)}: it predates the 2024-04 updates "
                "(use a newer ADK/boot.wim, or --boot-wim WIM)",
                path=wim,
            )
        w.extract(1, present, dest)
    return dest


def _put(stage: Path, rel: str, source: Path, replaced: list[str]) -> None:
    existing = find_case_insensitive(stage, rel)
    target = existing or safe_join(stage, rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    copy_file(source, target)
    replaced.append(target.relative_to(stage).as_posix())


def _replace(stage: Path, ex: Path, prompt: bool) -> tuple[list[str], Path]:
    """Copy-2023BootBins: the _EX files over the media's EFI files; returns (changed paths, efisys_ex.bin)."""
    boot = ex / "Windows" / "Boot"
    replaced: list[str] = []
    efi_ex = find_case_insensitive(boot, "EFI_EX")
    bootmgfw = find_case_insensitive(efi_ex, "bootmgfw_EX.efi") if efi_ex else None
    if bootmgfw is None:
        raise SourceError("boot.wim has no Windows/Boot/EFI_EX/bootmgfw_EX.efi")
    boot_dir = find_case_insensitive(stage, "efi/boot")
    names = (
        sorted(p.name for p in boot_dir.iterdir() if p.name.lower().startswith("boot")) if boot_dir else []
    )
    for name in names or ["bootx64.efi"]:
        _put(stage, f"efi/boot/{name}", bootmgfw, replaced)
    bootmgr = find_case_insensitive(efi_ex, "bootmgr_EX.efi")
    if bootmgr is not None and find_case_insensitive(stage, "bootmgr.efi") is not None:
        _put(stage, "bootmgr.efi", bootmgr, replaced)
    efisys_name = "efisys_EX.bin" if prompt else "efisys_noprompt_EX.bin"
    efisys = find_case_insensitive(boot, f"DVD_EX/EFI/en-US/{efisys_name}") or find_case_insensitive(
        boot, f"DVD_EX/EFI/{efisys_name}"
    )
    if efisys is None:
        raise SourceError(f"boot.wim has no Windows/Boot/DVD_EX/EFI/en-US/{efisys_name}")
    _put(stage, "efi/microsoft/boot/efisys_ex.bin", efisys, replaced)
    fonts = find_case_insensitive(boot, "FONTS_EX")
    for font in sorted(fonts.iterdir()) if fonts else []:
        stem = font.stem.removesuffix("_EX").removesuffix("_ex")
        _put(stage, f"efi/microsoft/boot/fonts/{stem}{font.suffix}", font, replaced)
    stl = find_case_insensitive(boot, "EFI/boot.stl")
    if stl is not None and find_case_insensitive(stage, "efi/microsoft/boot/boot.stl") is None:
        _put(stage, "efi/microsoft/boot/boot.stl", stl, replaced)
    assert not any(r.lower().endswith(NEVER_COPY) for r in replaced)  # only the files above are copied
    return sorted(set(replaced)), safe_join(stage, "efi/microsoft/boot/efisys_ex.bin")


def _write_outputs(
    req: UpdateRequest,
    stage: Path,
    bios: Path | None,
    uefi: Path,
    label: str,
    t: int,
    progress: Progress | None,
) -> list[Path]:
    """Every output of the update, staged and published together (pebuild.outputs: both or neither)."""
    from pebuild.iso import IsoRequest, write_iso
    from pebuild.outputs import Output, OutputOptions, Transaction, plan_outputs

    uefi_image = find_case_insensitive(stage, "efi/microsoft/boot/efisys_ex.bin") or uefi
    wanted = [
        Output(role, Path(p)) for role, p in (("iso", req.output), ("usb", req.usb_output)) if p is not None
    ]
    with Transaction(plan_outputs(wanted, inputs=[req.media]), OutputOptions(force=req.force)) as tx:
        if req.output is not None:
            iso = IsoRequest(
                media_dir=stage, output=Path(req.output), bios_boot=bios, uefi_boot=uefi_image, label=label[:32],
                timestamp=t,
            )  # fmt: skip
            write_iso(iso, progress, into=tx.path("iso"))
        if req.usb_output is not None:
            from pebuild.usb import UsbRequest, write_usb_image

            usb = UsbRequest(
                media_dir=stage, output=Path(req.usb_output), arch=_arch(stage), label=label[:11], timestamp=t
            )
            write_usb_image(usb, progress, into=tx.path("usb"))
        tx.publish()
    return [out.path for out in wanted]


def _arch(stage: Path) -> str:
    boot = find_case_insensitive(stage, "efi/boot")
    names = {p.name.lower() for p in boot.iterdir()} if boot else set()
    for name, arch in (("bootx64.efi", "amd64"), ("bootaa64.efi", "arm64"), ("bootia32.efi", "x86")):
        if name in names:
            return arch
    return "amd64"


def _copy(src: str, dst: str) -> str:
    copy_file(src, dst)
    return dst
