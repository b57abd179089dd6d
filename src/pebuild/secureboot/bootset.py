"""Which boot manager set a build puts on its media: `[media] boot_manager = auto | 2023 | 2011`.

A 2024+ image carries both sets (docs/secureboot.md §3): the PCA 2011-signed
`Windows/Boot/EFI/bootmgfw.efi` + `DVD/EFI/en-US/efisys.bin`, and the Windows
UEFI CA 2023-signed `EFI_EX/bootmgfw_EX.efi`, `bootmgr_EX.efi`,
`DVD_EX/EFI/en-US/efisys_EX.bin`, `FONTS_EX/*_EX.ttf`. `MakeWinPEMedia /bootex`
and Make2023BootableMedia.ps1 copy the `_EX` files over the usual names
(fonts lose their `_EX`). `auto` takes the `_EX` set when the source has it;
otherwise the 2011 set, with a warning: it fails on machines with the PCA 2011
revocation. `2023` refuses a source without the `_EX` set.
`BootSetSource` lets the PXE writer see the chosen set under the usual names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pebuild.errors import SourceError, UsageError

BOOT_MANAGERS = ("auto", "2023", "2011")
#: usual logical name -> the `_EX` name (pebuild.source IMAGE_BOOT_PATHS)
EX_NAMES = {
    "bootmgfw.efi": "bootmgfw_EX.efi",
    "bootmgr.efi": "bootmgr_EX.efi",
    "efisys.bin": "efisys_EX.bin",
    "efisys_noprompt.bin": "efisys_noprompt_EX.bin",
}
WARN_2011 = (
    "boot manager: the source has no 2023 (_EX) boot files; the media use the PCA 2011-signed set "
    "and will not boot on machines whose dbx revokes PCA 2011 (profile 2023-enforced, KB5025885)"
)


@dataclass
class BootSet:
    generation: str  # 2023 | 2011
    requested: str  # auto | 2023 | 2011
    names: dict[str, str] = field(default_factory=dict)  # usual logical name -> name in the source
    fonts: dict[str, str] = field(default_factory=dict)  # media font name -> source key (fonts_ex/...)
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"requested": self.requested, "generation": self.generation, "warning": self.warning}


def has_ex_set(source: Any) -> bool:
    return all(source.has_boot_file(EX_NAMES[n]) for n in ("bootmgfw.efi", "efisys.bin"))


def choose_boot_set(source: Any, requested: str) -> BootSet:
    """The set for `requested` (auto | 2023 | 2011) from `source` (a pebuild.source Source)."""
    if requested not in BOOT_MANAGERS:
        raise UsageError(f"boot manager must be one of {', '.join(BOOT_MANAGERS)}, not {requested!r}")
    ex = has_ex_set(source)
    if requested == "2023" and not ex:
        raise SourceError(
            "boot_manager = 2023 needs the Windows UEFI CA 2023 boot files (Windows/Boot/EFI_EX/bootmgfw_EX.efi "
            "and DVD_EX/EFI/en-US/efisys_EX.bin in boot.wim, or efisys_EX.bin in the ADK's Oscdimg folder); "
            "use an ADK 10.1.26100.2454+ / a 2024-04 or newer image, or boot_manager = 2011",
            path=getattr(source, "root", None),
        )
    if requested == "2011" or not ex:
        return BootSet("2011", requested, warning=WARN_2011 if requested == "auto" else None)
    names = {usual: ex_name for usual, ex_name in EX_NAMES.items() if source.has_boot_file(ex_name)}
    fonts = {}
    for name in getattr(source, "image_boot_names", lambda _f: [])("FONTS_EX"):
        stem, dot, ext = name.rpartition(".")
        fonts[f"{stem.removesuffix('_EX').removesuffix('_ex')}{dot}{ext}"] = f"fonts_ex/{name}"
    return BootSet("2023", requested, names, fonts)


class BootSetSource:
    """A Source whose usual boot file names serve the chosen set (everything else passes through)."""

    def __init__(self, source: Any, boot_set: BootSet) -> None:
        self._source = source
        self._set = boot_set

    def _key(self, name: str) -> str:
        if name in self._set.names:
            return self._set.names[name]
        if name.startswith("fonts/") and name[6:] in self._set.fonts:
            return self._set.fonts[name[6:]]
        return name

    def boot_file(self, name: str) -> bytes:
        return bytes(self._source.boot_file(self._key(name)))

    def has_boot_file(self, name: str) -> bool:
        return bool(self._source.has_boot_file(self._key(name)))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._source, attr)
