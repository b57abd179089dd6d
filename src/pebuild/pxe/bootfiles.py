"""Find the network boot programs of one architecture: in the source kit, else inside boot.wim.

Every WinPE boot.wim carries its own boot files (wimboot relies on the same
fact, anchors.md §2.4): `Windows/Boot/PXE/{pxeboot.n12,pxeboot.com,bootmgr.exe,
abortpxe.com,wdsnbp.com}`, `Windows/Boot/EFI/bootmgfw.efi`, `Windows/Boot/Fonts`
and `Windows/Boot/DVD/PCAT/boot.sdi`. A source kit (ADK, WAIK, sample) is asked
first through `Source.boot_file`, so a kit's own copies win; the WIM is the
fallback and the only place for a bare boot.wim. `Windows/Boot` is extracted
once per architecture and looked up case-insensitively, because images differ
in case (`PXE` vs `pxe`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild.errors import PebuildError
from pebuild.fsutil import find_case_insensitive

#: logical name -> (Source.boot_file key, paths inside boot.wim in order of preference)
BOOT_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pxeboot.n12": ("pxe/pxeboot.n12", ("Windows/Boot/PXE/pxeboot.n12",)),
    "pxeboot.com": ("pxe/pxeboot.com", ("Windows/Boot/PXE/pxeboot.com",)),
    "bootmgr.exe": ("pxe/bootmgr.exe", ("Windows/Boot/PXE/bootmgr.exe",)),
    "abortpxe.com": ("pxe/abortpxe.com", ("Windows/Boot/PXE/abortpxe.com",)),
    "wdsnbp.com": ("pxe/wdsnbp.com", ("Windows/Boot/PXE/wdsnbp.com",)),
    "bootmgfw.efi": ("bootmgfw.efi", ("Windows/Boot/EFI/bootmgfw.efi",)),
    "boot.sdi": ("boot.sdi", ("Windows/Boot/DVD/PCAT/boot.sdi", "Windows/Boot/DVD/EFI/boot.sdi")),
}

#: Boot fonts of the ADK's Media\Boot\Fonts, probed by name in a source kit (it has no listing call).
KNOWN_FONTS = (
    "chs_boot.ttf",
    "cht_boot.ttf",
    "jpn_boot.ttf",
    "kor_boot.ttf",
    "malgun_boot.ttf",
    "malgunn_boot.ttf",
    "meiryo_boot.ttf",
    "meiryon_boot.ttf",
    "msjh_boot.ttf",
    "msjhn_boot.ttf",
    "msyh_boot.ttf",
    "msyhn_boot.ttf",
    "segmono_boot.ttf",
    "segoe_slboot.ttf",
    "segoen_slboot.ttf",
    "wgl4_boot.ttf",
)

WIM_BOOT_DIR = "Windows/Boot"


@dataclass
class BootFiles:
    """Boot files of one architecture, from `source` (a pebuild.source Source) and/or `boot_wim`."""

    arch: str
    boot_wim: Path
    workdir: Path
    source: Any = None
    index: int | None = None
    _extracted: Path | None = field(default=None, init=False)
    _wim_problem: str | None = field(default=None, init=False)
    image_index: int | None = field(default=None, init=False)

    def get(self, name: str) -> bytes | None:
        """The file's bytes, or None when neither the source nor the WIM has it."""
        source_key, wim_paths = BOOT_FILES[name]
        data = self._from_source(source_key)
        if data is not None:
            return data
        for wim_path in wim_paths:
            found = self._find_in_wim(wim_path)
            if found is not None:
                return found.read_bytes()
        return None

    def looked_for(self, name: str) -> str:
        """Where `get(name)` looked, for one-line errors."""
        source_key, wim_paths = BOOT_FILES[name]
        places = []
        if self.source is not None:
            places.append(f"{source_key} in the source")
        where = f"{self.boot_wim.name}" + (f" image {self.image_index}" if self.image_index else "")
        places.append(f"{' or '.join(wim_paths)} in {where}")
        text = " and ".join(places)
        if self._wim_problem:
            text += f" ({self._wim_problem})"
        return text

    def fonts(self) -> dict[str, bytes]:
        """Boot fonts (*.ttf) by file name: the source kit's, else the WIM's Windows/Boot/Fonts."""
        fonts: dict[str, bytes] = {}
        for font in KNOWN_FONTS:
            data = self._from_source(f"fonts/{font}")
            if data is not None:
                fonts[font] = data
        if fonts:
            return fonts
        font_dir = self._find_in_wim(f"{WIM_BOOT_DIR}/Fonts")
        if font_dir is not None and font_dir.is_dir():
            for entry in sorted(font_dir.iterdir(), key=lambda p: p.name.lower()):
                if entry.is_file() and entry.suffix.lower() == ".ttf":
                    fonts[entry.name] = entry.read_bytes()
        return fonts

    def _from_source(self, key: str) -> bytes | None:
        if self.source is None:
            return None
        try:
            if not self.source.has_boot_file(key):
                return None
            data = self.source.boot_file(key)
        except PebuildError:
            return None
        return bytes(data)

    def _find_in_wim(self, wim_path: str) -> Path | None:
        root = self._extract()
        if root is None:
            return None
        return find_case_insensitive(root, wim_path)

    def _extract(self) -> Path | None:
        """Extract Windows/Boot of the boot image once; a WIM that is not a WIM is a FormatError."""
        if self._extracted is not None or self._wim_problem is not None:
            return self._extracted
        from pebuild.wim import Wim

        dest = self.workdir / f"wim-{self.arch}"
        dest.mkdir(parents=True, exist_ok=True)
        with Wim.open(self.boot_wim) as wim:
            index = self.index or wim.info.boot_index or 1
            self.image_index = index
            try:
                wim.extract(index, [WIM_BOOT_DIR], dest)
            except PebuildError as exc:
                self._wim_problem = f"no {WIM_BOOT_DIR} in the image: {exc}"
                return None
        self._extracted = dest
        return dest
