"""The Source protocol, the shared lookup logic and the registry of source kinds.

A WinPE source is anything that holds a boot.wim plus the boot files around it
(ADK kit, WAIK kit, install tree or ISO, copype tree, bare WIM). Each kind
says where it looks (`boot_paths`); when a file is not in the tree, every kind
falls back to the copy inside the image (`Windows/Boot/...`), as wimboot does
(anchors.md §2.4, §4 item 7). A missing file is a SourceError that lists every
place that was tried.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pebuild.arches import EFI_NAME
from pebuild.errors import SourceError
from pebuild.fsutil import find_case_insensitive

#: boot file name -> paths inside the image (Windows 7+ layout; first hit wins)
IMAGE_BOOT_PATHS: dict[str, tuple[str, ...]] = {
    "bootmgr": ("Windows/Boot/PCAT/bootmgr",),
    "bootmgr.efi": ("Windows/Boot/EFI/bootmgr.efi", "Windows/Boot/EFI/bootmgfw.efi"),
    "bootmgfw.efi": ("Windows/Boot/EFI/bootmgfw.efi",),
    "boot.sdi": ("Windows/Boot/DVD/PCAT/boot.sdi", "Windows/Boot/DVD/EFI/boot.sdi"),
    "bcd-pcat": ("Windows/Boot/DVD/PCAT/BCD",),
    "bcd-efi": ("Windows/Boot/DVD/EFI/BCD",),
    "etfsboot.com": ("Windows/Boot/DVD/PCAT/etfsboot.com",),
    "efisys.bin": ("Windows/Boot/DVD/EFI/en-US/efisys.bin", "Windows/Boot/DVD/EFI/efisys.bin"),
    "efisys_noprompt.bin": (
        "Windows/Boot/DVD/EFI/en-US/efisys_noprompt.bin",
        "Windows/Boot/DVD/EFI/efisys_noprompt.bin",
    ),
    "bootfix.bin": ("Windows/Boot/DVD/PCAT/bootfix.bin", "Windows/Boot/PCAT/bootfix.bin"),
    # Windows UEFI CA 2023-signed set of 2024+ images (issue 14, docs/secureboot.md §3)
    "bootmgfw_EX.efi": ("Windows/Boot/EFI_EX/bootmgfw_EX.efi",),
    "bootmgr_EX.efi": ("Windows/Boot/EFI_EX/bootmgr_EX.efi",),
    "efisys_EX.bin": ("Windows/Boot/DVD_EX/EFI/en-US/efisys_EX.bin", "Windows/Boot/DVD_EX/EFI/efisys_EX.bin"),
    "efisys_noprompt_EX.bin": (
        "Windows/Boot/DVD_EX/EFI/en-US/efisys_noprompt_EX.bin",
        "Windows/Boot/DVD_EX/EFI/efisys_noprompt_EX.bin",
    ),
}

#: boot file name -> paths in a copype-style media tree (ADK Media/, install tree, copype media/)
MEDIA_BOOT_PATHS: dict[str, tuple[str, ...]] = {
    "bootmgr": ("bootmgr",),
    "bootmgr.efi": ("bootmgr.efi",),
    "bootmgfw.efi": ("efi/boot/boot{efi}.efi",),
    "boot.sdi": ("boot/boot.sdi",),
    "bcd-pcat": ("boot/bcd",),
    "bcd-efi": ("efi/microsoft/boot/bcd",),
    "etfsboot.com": ("boot/etfsboot.com",),
    "efisys.bin": ("efi/microsoft/boot/efisys.bin",),
    "efisys_noprompt.bin": ("efi/microsoft/boot/efisys_noprompt.bin",),
    "bootfix.bin": ("boot/bootfix.bin",),
    "efisys_EX.bin": ("efi/microsoft/boot/efisys_ex.bin",),  # where Make2023BootableMedia.ps1 puts it
}


def ci_lookup(root: Path, rel: str) -> Path | None:
    """Find `rel` under `root` ignoring case; user-given source paths may climb with '..'."""
    return find_case_insensitive(root, rel, allow_parent=True)


@runtime_checkable
class Source(Protocol):
    """What the builder needs from any source kind (docs/design.md)."""

    kind: str
    arch: str
    root: Path
    default_index: int

    def boot_wim_path(self, workdir: Path) -> Path: ...
    def boot_file(self, name: str) -> bytes: ...
    def has_boot_file(self, name: str) -> bool: ...
    def fonts(self) -> list[str]: ...
    def tool_file(self, relpath: str) -> Path: ...
    def tool_files(self, pattern: str) -> list[Path]: ...
    def describe(self) -> dict[str, Any]: ...
    def close(self) -> None: ...


#: kind name -> class; filled by __init_subclass__ (mkosi's DistributionInstaller pattern)
REGISTRY: dict[str, type[TreeSource]] = {}


class TreeSource:
    """A source whose files live in a directory tree (every kind but the ISO builds on this)."""

    kind: ClassVar[str] = ""
    #: a short sentence for the "not recognised" error: what this kind looks like
    looks_like: ClassVar[str] = ""
    #: detection order: lower first
    priority: ClassVar[int] = 50

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            REGISTRY[cls.kind] = cls

    def __init__(
        self,
        root: Path,
        arch: str,
        *,
        boot_wim: Path,
        default_index: int = 1,
        media_roots: tuple[Path, ...] = (),
        extra_paths: dict[str, tuple[Path, ...]] | None = None,
        tool_dirs: tuple[Path, ...] = (),
    ) -> None:
        self.root = root
        self.arch = arch
        self._boot_wim = boot_wim
        self.default_index = default_index
        self.media_roots = media_roots
        self.extra_paths = extra_paths or {}
        self.tool_dirs = tool_dirs
        self._image_dir: Path | None = None
        self._tmp: Path | None = None

    # -- detection ------------------------------------------------------------------
    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        """Return a source when `path` looks like this kind, else None; SourceError when it
        is this kind but lacks something essential (e.g. the arch)."""
        raise NotImplementedError

    # -- boot.wim -------------------------------------------------------------------
    def boot_wim_path(self, workdir: Path) -> Path:
        return self._boot_wim

    def image_index_for_boot_files(self) -> int:
        return self.default_index

    def wim_label(self) -> str:
        return str(self._boot_wim)

    # -- boot files -----------------------------------------------------------------
    def _tree_candidates(self, name: str) -> list[Path]:
        out: list[Path] = list(self.extra_paths.get(name, ()))
        rels: tuple[str, ...] = ()
        if name.startswith("fonts/"):
            font = name.split("/", 1)[1]
            rels = (f"boot/fonts/{font}", f"efi/microsoft/boot/fonts/{font}")
        elif name in MEDIA_BOOT_PATHS:
            rels = tuple(r.format(efi=EFI_NAME.get(self.arch, "x64")) for r in MEDIA_BOOT_PATHS[name])
        for media in self.media_roots:
            out += [media / r for r in rels]
        return out

    def _image_candidates(self, name: str) -> tuple[str, ...]:
        if name.startswith("fonts/"):
            return (f"Windows/Boot/Fonts/{name.split('/', 1)[1]}",)
        if name.startswith("pxe/"):
            return (f"Windows/Boot/PXE/{name.split('/', 1)[1]}",)
        if name.startswith("fonts_ex/"):
            return (f"Windows/Boot/FONTS_EX/{name.split('/', 1)[1]}",)
        return IMAGE_BOOT_PATHS.get(name, ())

    def _find(self, name: str) -> Path | None:
        for cand in self._tree_candidates(name):
            hit = _ci_abs(cand)
            if hit is not None and hit.is_file():
                return hit
        image_paths = self._image_candidates(name)
        if image_paths:
            boot_dir = self._image_boot_dir()
            for rel in image_paths:
                hit = ci_lookup(boot_dir, rel) if boot_dir else None
                if hit is not None and hit.is_file():
                    return hit
        return None

    def has_boot_file(self, name: str) -> bool:
        return self._find(name) is not None

    def boot_file(self, name: str) -> bytes:
        hit = self._find(name)
        if hit is None:
            looked = [str(c) for c in self._tree_candidates(name)]
            looked += [f"{self.wim_label()}:{p}" for p in self._image_candidates(name)]
            where = "; ".join(looked) or "nowhere (unknown boot file)"
            raise SourceError(
                f"{self.kind} source has no {name} for {self.arch}: looked for {where}", path=self.root
            )
        return hit.read_bytes()

    def fonts(self) -> list[str]:
        """Boot font file names (wgl4_boot.ttf, ...), from the media tree, else the image."""
        names: set[str] = set()
        for media in self.media_roots:
            for rel in ("boot/fonts", "efi/microsoft/boot/fonts"):
                d = ci_lookup(media, rel)
                if d is not None and d.is_dir():
                    names.update(p.name for p in d.iterdir() if p.is_file())
        if not names:
            boot_dir = self._image_boot_dir()
            d = ci_lookup(boot_dir, "Windows/Boot/Fonts") if boot_dir else None
            if d is not None and d.is_dir():
                names.update(p.name for p in d.iterdir() if p.is_file())
        return sorted(names, key=str.lower)

    def image_boot_names(self, folder: str) -> list[str]:
        """File names in the image's Windows/Boot/<folder> (e.g. FONTS_EX), sorted; [] when absent."""
        boot_dir = self._image_boot_dir()
        d = ci_lookup(boot_dir, f"Windows/Boot/{folder}") if boot_dir else None
        if d is None or not d.is_dir():
            return []
        return sorted((p.name for p in d.iterdir() if p.is_file()), key=str.lower)

    def _image_boot_dir(self) -> Path | None:
        """Windows/Boot extracted once from the image (fallback for every boot file)."""
        if self._image_dir is None:
            if self._tmp is None:  # a subclass may have made its scratch directory already (isosource)
                self._tmp = Path(tempfile.mkdtemp(prefix="pebuild-src-"))
            dest = self._tmp / "image"
            dest.mkdir()
            try:
                from pebuild.wim import Wim

                wim_path = self.boot_wim_path(self._tmp)
                with Wim.open(wim_path) as wim:
                    wim.extract(self.image_index_for_boot_files(), ["Windows/Boot"], dest)
            except ImportError:
                pass
            except Exception as exc:  # a WIM without Windows/Boot is a normal case here
                from pebuild.errors import PebuildError

                if not isinstance(exc, PebuildError):
                    raise
            self._image_dir = dest
        return self._image_dir

    # -- tools ----------------------------------------------------------------------
    def tool_files(self, pattern: str) -> list[Path]:
        """Kit tools matching a file name, directory name or glob, first tools folder that has them."""
        for d in self.tool_dirs:
            if not d.is_dir():
                continue
            if any(ch in pattern for ch in "*?["):
                low = pattern.lower()
                import fnmatch

                hits = sorted(p for p in d.iterdir() if fnmatch.fnmatch(p.name.lower(), low))
            else:
                hit = ci_lookup(d, pattern.rstrip("/"))
                hits = [hit] if hit is not None else []
            if hits:
                return hits
        return []

    def tool_file(self, relpath: str) -> Path:
        hits = self.tool_files(relpath)
        if not hits:
            where = ", ".join(str(d) for d in self.tool_dirs) or "(this kind of source has no tools folder)"
            raise SourceError(
                f"{self.kind} source has no {relpath} for {self.arch}: looked in {where}", path=self.root
            )
        return hits[0]

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "arch": self.arch, "root": str(self.root), "boot_wim": str(self._boot_wim)}

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self._image_dir = None

    def __enter__(self) -> TreeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ci_abs(path: Path) -> Path | None:
    """Case-insensitive lookup of an absolute path whose parent may differ in case."""
    anchor = Path(path.anchor)
    return ci_lookup(anchor, str(path.relative_to(anchor)))
