"""The copype `media/` layout and the `fwfiles/` boot images, for every arch.

    media/bootmgr, bootmgr.efi                     (bootmgr: BIOS arches only)
    media/boot/{bcd,boot.sdi,bootfix.bin,fonts/}   (bcd, bootfix.bin, fonts: BIOS arches only)
    media/efi/boot/boot{x64,ia32,aa64,ia64}.efi
    media/efi/microsoft/boot/{bcd,fonts/}
    media/sources/boot.wim
    fwfiles/{etfsboot.com,efisys.bin,efisys_noprompt.bin}

arm64 and ia64 media are UEFI-only, as MakeWinPEMedia's `1#pEF` fallback
(anchors.md §2.1). `prompt = False` leaves out boot/bootfix.bin (the BIOS
"Press any key to boot from CD" program) and boots UEFI from efisys_noprompt.bin.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.arches import BIOS_ARCHES, efi_boot_name
from pebuild.fsutil import copy_file, safe_join
from pebuild.pe import check_arch


def has_bios(arch: str) -> bool:
    return arch in BIOS_ARCHES


@dataclass
class MediaFiles:
    """Everything that goes on the media, before it is written (rel path -> bytes or file)."""

    files: dict[str, bytes | Path] = field(default_factory=dict)
    fwfiles: dict[str, bytes] = field(default_factory=dict)

    def put(self, rel: str, content: bytes | Path) -> None:
        self.files[rel] = content


def collect_boot_files(
    source: object,
    arch: str,
    *,
    prompt: bool,
    bcd_bios: bytes | None,
    bcd_uefi: bytes,
    boot_sdi: bytes,
    require_bootfix: bool = True,
) -> MediaFiles:
    """The media files copype lays out, taken from `source` (a pebuild.source Source).

    require_bootfix: a build with prompt = true needs boot/bootfix.bin; copype copies it when there.
    """
    src = source  # typing: pebuild.source.Source
    m = MediaFiles()
    efi = src.boot_file("bootmgfw.efi")  # type: ignore[attr-defined]
    m.put(f"efi/boot/{efi_boot_name(arch)}", efi)
    m.put("bootmgr.efi", src.boot_file("bootmgr.efi") if src.has_boot_file("bootmgr.efi") else efi)  # type: ignore[attr-defined]
    m.put("efi/microsoft/boot/bcd", bcd_uefi)
    m.put("boot/boot.sdi", boot_sdi)
    fonts = src.fonts()  # type: ignore[attr-defined]
    for font in fonts:
        m.put(f"efi/microsoft/boot/fonts/{font}", src.boot_file(f"fonts/{font}"))  # type: ignore[attr-defined]
    if has_bios(arch):
        m.put("bootmgr", src.boot_file("bootmgr"))  # type: ignore[attr-defined]
        assert bcd_bios is not None
        m.put("boot/bcd", bcd_bios)
        for font in fonts:
            m.put(f"boot/fonts/{font}", src.boot_file(f"fonts/{font}"))  # type: ignore[attr-defined]
        if prompt and (require_bootfix or src.has_boot_file("bootfix.bin")):  # type: ignore[attr-defined]
            m.put("boot/bootfix.bin", src.boot_file("bootfix.bin"))  # type: ignore[attr-defined]
        m.fwfiles["etfsboot.com"] = src.boot_file("etfsboot.com")  # type: ignore[attr-defined]
    m.fwfiles["efisys.bin"] = src.boot_file("efisys.bin")  # type: ignore[attr-defined]
    if src.has_boot_file("efisys_noprompt.bin"):  # type: ignore[attr-defined]
        m.fwfiles["efisys_noprompt.bin"] = src.boot_file("efisys_noprompt.bin")  # type: ignore[attr-defined]
    elif not prompt:
        src.boot_file("efisys_noprompt.bin")  # type: ignore[attr-defined]  # raises, listing where it looked
    return m


def check_media_pe(files: dict[str, bytes | Path], arch: str) -> dict[str, dict[str, object]]:
    """check_arch on every PE file of the media; returns rel path -> PeInfo JSON."""
    out: dict[str, dict[str, object]] = {}
    for rel, content in sorted(files.items()):
        data = content.read_bytes() if isinstance(content, Path) else content
        info = check_arch(data, arch, name=f"media/{rel}")
        if info is not None:
            out[rel] = info.to_json()
    return out


def write_tree(root: Path, files: dict[str, bytes | Path], *, mtime: int) -> list[str]:
    """Write files under root (paths checked with safe_join), all mtimes pinned; sorted rel paths."""
    written = []
    for rel in sorted(files):
        target = safe_join(root, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        content = files[rel]
        if isinstance(content, Path):
            copy_file(content, target)
            os.chmod(target, 0o644)
        else:
            target.write_bytes(content)
        os.utime(target, (mtime, mtime))
        written.append(rel)
    for d in sorted({p for p in root.rglob("*") if p.is_dir()}, reverse=True):
        os.utime(d, (mtime, mtime))
    os.utime(root, (mtime, mtime))
    return written
