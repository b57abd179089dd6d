"""Directory source kinds: ADK 10/11, WAIK 1.x, copype tree, install tree, bare WIM, sample.

Layouts (anchors.md §2.1, §2.2):
* ADK: `Windows Preinstallation Environment/<arch>/en-us/winpe.wim`, `…/<arch>/Media/`,
  `Deployment Tools/<arch>/Oscdimg/{etfsboot.com,efisys.bin,efisys_noprompt.bin}`.
* WAIK 1.x: `Tools/PETools/<arch>/{winpe.wim,bootmgr,boot/,EFI/}` with arch x86, amd64, ia64;
  tools in `Tools/<arch>/` (imagex.exe, Servicing/).
* copype tree: `media/sources/boot.wim`, `media/…`, `fwfiles/`.
* install tree: `sources/boot.wim` (image 2 is Windows Setup, 1 is plain WinPE), `bootmgr`, `boot/`, `efi/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pebuild.errors import SourceError
from pebuild.source.base import TreeSource, ci_lookup

ADK_WPE = "Windows Preinstallation Environment"
ADK_DT = "Deployment Tools"


def _arches_in(d: Path | None) -> list[str]:
    if d is None or not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir() if p.is_dir())


class AdkSource(TreeSource):
    kind = "adk"
    looks_like = (
        f"'{ADK_WPE}/<arch>/en-us/winpe.wim' (ADK 10/11, or its 'Assessment and Deployment Kit' folder)"
    )
    priority = 20

    @classmethod
    def kit_root(cls, path: Path) -> Path | None:
        for cand in (path, path / "Assessment and Deployment Kit"):
            if ci_lookup(cand, ADK_WPE) is not None:
                return cand
        return None

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        root = cls.kit_root(path)
        if root is None:
            return None
        return cls.open_kit(root, arch)

    @classmethod
    def open_kit(cls, root: Path, arch: str) -> TreeSource:
        wpe = ci_lookup(root, ADK_WPE)
        arch_dir = ci_lookup(wpe, arch) if wpe else None
        if arch_dir is None:
            found = ", ".join(_arches_in(wpe)) or "none"
            raise SourceError(
                f"{cls.kind} kit has no {arch} WinPE: looked for {root / ADK_WPE / arch} (arches present: {found})",
                path=root,
            )
        wims = sorted(arch_dir.glob("*/winpe.wim")) + sorted(arch_dir.glob("*/WinPE.wim"))
        if not wims:
            raise SourceError(
                f"{cls.kind} kit has no winpe.wim for {arch}: looked for {arch_dir}/en-us/winpe.wim",
                path=root,
            )
        wim = next((w for w in wims if w.parent.name.lower() == "en-us"), wims[0])
        media = ci_lookup(arch_dir, "Media") or arch_dir / "Media"
        dt = ci_lookup(root, ADK_DT)
        dt_arch = (ci_lookup(dt, arch) if dt else None) or root / ADK_DT / arch
        oscdimg = ci_lookup(dt_arch, "Oscdimg") or dt_arch / "Oscdimg"
        oscdimg_files = (
            "etfsboot.com",
            "efisys.bin",
            "efisys_noprompt.bin",
            "efisys_EX.bin",
            "efisys_noprompt_EX.bin",
        )
        extra = {n: (oscdimg / n,) for n in oscdimg_files}
        tools = tuple(
            d
            for d in (
                dt_arch / "DISM",
                dt_arch / "Imaging",
                dt_arch / "Tools",
                dt_arch,
                arch_dir / "Tools",
                root / "Tools" / arch,
            )
            if d.is_dir()
        )
        return cls(
            root,
            arch,
            boot_wim=wim,
            default_index=1,
            media_roots=(media,),
            extra_paths=extra,
            tool_dirs=tools,
        )


class SampleSource(AdkSource):
    """The built-in synthetic kit (pebuild.sample), ADK-shaped, built on demand in the cache."""

    kind = "sample"
    looks_like = "the word 'sample'"
    priority = 0

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        return None  # only by name, see open_source

    @classmethod
    def build(cls, arch: str) -> TreeSource:
        from pebuild.sample import sample_source_path

        root = Path(sample_source_path(arch))
        return cls.open_kit(cls.kit_root(root) or root, arch)


class WaikSource(TreeSource):
    kind = "waik"
    looks_like = "'Tools/PETools/<arch>/winpe.wim' (WAIK 1.x: x86, amd64, ia64)"
    priority = 30
    ARCHES: ClassVar[tuple[str, ...]] = ("x86", "amd64", "ia64")

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        petools = ci_lookup(path, "Tools/PETools")
        if petools is None:
            return None
        if arch not in cls.ARCHES:
            raise SourceError(f"WAIK 1.x has no {arch} WinPE (it ships x86, amd64, ia64)", path=path)
        arch_dir = ci_lookup(petools, arch)
        if arch_dir is None:
            found = ", ".join(_arches_in(petools)) or "none"
            raise SourceError(
                f"waik kit has no {arch} WinPE: looked for {petools / arch} (present: {found})", path=path
            )
        wim = ci_lookup(arch_dir, "winpe.wim")
        if wim is None:
            raise SourceError(f"waik kit has no winpe.wim: looked for {arch_dir / 'winpe.wim'}", path=path)
        extra = {
            n: (arch_dir / "boot" / n, arch_dir / n, arch_dir / "EFI" / "Microsoft" / "Boot" / n)
            for n in ("etfsboot.com", "efisys.bin", "efisys_noprompt.bin")
        }
        tools = tuple(d for d in (path / "Tools" / arch, arch_dir) if d.is_dir())
        return cls(
            path,
            arch,
            boot_wim=wim,
            default_index=1,
            media_roots=(arch_dir,),
            extra_paths=extra,
            tool_dirs=tools,
        )


class CopypeSource(TreeSource):
    kind = "copype"
    looks_like = "'media/sources/boot.wim' beside 'fwfiles/' (a copype working tree)"
    priority = 10

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        media = ci_lookup(path, "media")
        fw = ci_lookup(path, "fwfiles")
        if media is None or fw is None:
            return None
        wim = ci_lookup(media, "sources/boot.wim")
        if wim is None:
            raise SourceError(
                f"copype tree has no boot.wim: looked for {media / 'sources' / 'boot.wim'}", path=path
            )
        extra = {n: (fw / n,) for n in ("etfsboot.com", "efisys.bin", "efisys_noprompt.bin")}
        tools = tuple(d for d in (path / "tools",) if d.is_dir())
        return cls(
            path,
            arch,
            boot_wim=wim,
            default_index=1,
            media_roots=(media,),
            extra_paths=extra,
            tool_dirs=tools,
        )


class InstallTreeSource(TreeSource):
    kind = "install-tree"
    looks_like = "'sources/boot.wim' (a Windows install medium copied to disk)"
    priority = 40

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        wim = ci_lookup(path, "sources/boot.wim")
        if wim is None:
            return None
        return cls(path, arch, boot_wim=wim, default_index=2, media_roots=(path,))

    def image_index_for_boot_files(self) -> int:
        return 1


class WimSource(TreeSource):
    """A bare winpe.wim/boot.wim: every boot file comes from inside the image (Windows/Boot/...)."""

    kind = "wim"
    looks_like = "a .wim file"
    priority = 90

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        if not (path.is_file() and path.suffix.lower() in (".wim", ".esd")):
            return None
        index = 1
        try:
            from pebuild.wim import Wim

            with Wim.open(path) as wim:
                index = wim.info.boot_index or 1
        except ImportError:
            pass
        return cls(path.parent, arch, boot_wim=path, default_index=index)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root": str(self._boot_wim)}
