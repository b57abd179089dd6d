"""A Windows install .iso read in place with pycdlib: nothing is unpacked but the files used.

Install ISOs made by oscdimg carry the real tree only in UDF (their ISO 9660
view holds a README), so the lookup prefers UDF, then Joliet, Rock Ridge and
plain ISO 9660 names, always ignoring case. boot.wim (sources/boot.wim, image 2
= Windows Setup by default) is streamed into the build directory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pebuild.errors import FormatError, SourceError
from pebuild.source.base import EFI_NAME, MEDIA_BOOT_PATHS, TreeSource


class _IsoReader:
    def __init__(self, path: Path) -> None:
        import pycdlib
        from pycdlib.pycdlibexception import PyCdlibException

        self.path = path
        self.iso = pycdlib.PyCdlib()
        try:
            self.iso.open(str(path))
        except (PyCdlibException, OSError) as exc:
            raise FormatError(f"not a readable ISO 9660 image: {exc}", path=path) from None
        if self.iso.has_udf():
            self.view = "udf_path"
        elif self.iso.has_joliet():
            self.view = "joliet_path"
        elif self.iso.has_rock_ridge():
            self.view = "rr_path"
        else:
            self.view = "iso_path"

    def _name(self, rec: Any) -> str:
        raw = rec.file_identifier()
        if self.view == "joliet_path":
            return bytes(raw).decode("utf-16-be", errors="replace")
        if self.view == "rr_path" and getattr(rec, "rock_ridge", None) is not None:
            return rec.rock_ridge.name().decode("utf-8", errors="replace")
        name = bytes(raw).decode("utf-8", errors="replace")
        if self.view == "iso_path":
            name = name.split(";")[0].rstrip(".")
        return name

    def children(self, path: str) -> dict[str, tuple[str, bool]]:
        """lower-case name -> (real name, is_dir) in directory `path` ('/' based)."""
        out: dict[str, tuple[str, bool]] = {}
        try:
            records = list(self.iso.list_children(**{self.view: path}))
        except Exception:
            return out
        for rec in records:
            if rec is None:
                continue
            if self.view != "udf_path" and (rec.is_dot() or rec.is_dotdot()):
                continue
            name = self._name(rec)
            out.setdefault(name.lower(), (name, rec.is_dir()))
        return out

    def lookup(self, rel: str) -> tuple[str, bool] | None:
        """Real '/A/b' path of `rel` (case-insensitive) and whether it is a directory."""
        current = ""
        is_dir = True
        for part in [p for p in rel.replace("\\", "/").split("/") if p]:
            if not is_dir:
                return None
            hit = self.children(current or "/").get(part.lower())
            if hit is None:
                return None
            current = f"{current}/{hit[0]}"
            is_dir = hit[1]
        return (current or "/"), is_dir

    def extract(self, real: str, dest: Path) -> None:
        if self.view == "iso_path":
            real = real if real.endswith(";1") else real + ";1"
        with open(dest, "wb") as out:
            self.iso.get_file_from_iso_fp(out, **{self.view: real})

    def close(self) -> None:
        self.iso.close()


class IsoSource(TreeSource):
    kind = "install-iso"
    looks_like = "an .iso file with sources/boot.wim"
    priority = 80

    def __init__(self, path: Path, arch: str) -> None:
        self.reader = _IsoReader(path)
        found = self.reader.lookup("sources/boot.wim")
        if found is None or found[1]:
            self.reader.close()
            raise SourceError(
                f"install ISO has no boot.wim: looked for sources/boot.wim ({self.reader.view.split('_')[0]} names)",
                path=path,
            )
        self._wim_real = found[0]
        super().__init__(path, arch, boot_wim=path, default_index=2)
        self._extracted: Path | None = None

    @classmethod
    def detect(cls, path: Path, arch: str) -> TreeSource | None:
        if not (path.is_file() and path.suffix.lower() == ".iso"):
            return None
        return cls(path, arch)

    def image_index_for_boot_files(self) -> int:
        return 1

    def wim_label(self) -> str:
        return f"{self.root}:{self._wim_real.lstrip('/')}"

    def _scratch(self) -> Path:
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="pebuild-iso-"))
        return self._tmp

    def boot_wim_path(self, workdir: Path) -> Path:
        if self._extracted is None or not self._extracted.exists():
            dest = workdir / "source-boot.wim"
            self.reader.extract(self._wim_real, dest)
            self._extracted = dest
        return self._extracted

    def _iso_rels(self, name: str) -> tuple[str, ...]:
        if name.startswith("fonts/"):
            font = name.split("/", 1)[1]
            return (f"boot/fonts/{font}", f"efi/microsoft/boot/fonts/{font}")
        return tuple(r.format(efi=EFI_NAME.get(self.arch, "x64")) for r in MEDIA_BOOT_PATHS.get(name, ()))

    def _find(self, name: str) -> Path | None:
        for rel in self._iso_rels(name):
            found = self.reader.lookup(rel)
            if found is not None and not found[1]:
                dest = self._scratch() / "files" / rel.replace("/", "_")
                dest.parent.mkdir(parents=True, exist_ok=True)
                if not dest.exists():
                    self.reader.extract(found[0], dest)
                return dest
        return super()._find(name) if self._image_candidates(name) else None

    def _tree_candidates(self, name: str) -> list[Path]:
        return [self.root / r for r in self._iso_rels(name)]

    def _image_boot_dir(self) -> Path | None:
        if self._image_dir is None:
            self.boot_wim_path(self._scratch())
        return super()._image_boot_dir()

    def fonts(self) -> list[str]:
        names: set[str] = set()
        for rel in ("boot/fonts", "efi/microsoft/boot/fonts"):
            found = self.reader.lookup(rel)
            if found is not None and found[1]:
                names.update(n for n, d in self.reader.children(found[0]).values() if not d)
        return sorted(names, key=str.lower)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "arch": self.arch,
            "root": str(self.root),
            "boot_wim": f"{self.root}:{self._wim_real}",
        }

    def close(self) -> None:
        super().close()
        self.reader.close()
