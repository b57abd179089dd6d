"""Read-only views of what `pebuild check` looks into: a directory, an ISO, a FAT volume, a WIM.

Each view lists file paths ('/'-joined, as stored) and reads one file. The ISO
view reads ISO 9660/Joliet/UDF names through pebuild.source's pycdlib reader;
its El Torito EFI images (platform 0xEF) come from pebuild.iso.catalog. A USB
image is an MBR or GPT disk (pebuild.usb.partitions) whose FAT volumes
(pebuild.fat.reader) are opened in place.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from pebuild.errors import FormatError
from pebuild.fat import fat_type, is_fat_image
from pebuild.fat.reader import FatVolume
from pebuild.iso.catalog import PLATFORM_EFI, read_boot_catalog
from pebuild.usb.partitions import MBR_TYPE_PROTECTIVE, SECTOR, read_partitions


class Volume(Protocol):
    def files(self) -> list[str]: ...
    def read(self, rel: str) -> bytes: ...


class DirVolume:
    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def path(self, rel: str) -> Path:
        return self.root / rel


class FatFiles:
    """A FatVolume as a Volume."""

    def __init__(self, fat: FatVolume) -> None:
        self.fat = fat
        self._files = fat.files()

    def files(self) -> list[str]:
        return sorted(self._files)

    def read(self, rel: str) -> bytes:
        first, size = self._files[rel]
        return self.fat.read(first, size)


def fat_from_bytes(data: bytes, name: str) -> FatFiles:
    import io

    return FatFiles(FatVolume(io.BytesIO(data), name=name))


class IsoVolume:
    def __init__(self, path: Path) -> None:
        from pebuild.source.isosource import _IsoReader

        self.path = path
        self.reader = _IsoReader(path)

    def files(self) -> list[str]:
        out: list[str] = []
        stack = ["/"]
        while stack and len(out) < 200_000:
            d = stack.pop()
            for name, is_dir in self.reader.children(d).values():
                full = f"{d.rstrip('/')}/{name}"
                if is_dir:
                    stack.append(full)
                else:
                    out.append(full.lstrip("/"))
        return sorted(out)

    def read(self, rel: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="pebuild-check-") as tmp:
            dest = Path(tmp) / "f"
            self.reader.extract(f"/{rel}", dest)
            return dest.read_bytes()

    def close(self) -> None:
        self.reader.close()


def el_torito_efi_images(fh: BinaryIO, path: str | Path) -> list[tuple[int, int]]:
    """(byte offset, 512-byte sector count) of every bootable EFI entry; none when the catalog is damaged."""
    try:
        catalog = read_boot_catalog(fh, path=path)
    except FormatError:
        return []
    entries = catalog.entries if catalog else ()
    return [(e.offset, e.sector_count) for e in entries if e.bootable and e.platform == PLATFORM_EFI]


def disk_fat_offsets(fh: BinaryIO, path: str | Path) -> list[int]:
    """Byte offsets of FAT volumes on a raw disk image: MBR entries, GPT entries, or a superfloppy."""
    fh.seek(0)
    starts = [0]
    if not is_fat_image(fh.read(SECTOR)):
        layout = read_partitions(fh, path=path)
        for entry in layout.mbr if layout else ():
            if entry.type == MBR_TYPE_PROTECTIVE:
                starts += [part.first_lba * SECTOR for _, part in layout.gpt or ()]
            elif entry.type and entry.start_lba:
                starts.append(entry.start_lba * SECTOR)
    offsets = []
    for start in starts:
        fh.seek(start)
        if fat_type(fh.read(SECTOR)) is not None:
            offsets.append(start)
    return sorted(set(offsets))


@contextmanager
def wim_boot_tree(path: Path) -> Iterator[DirVolume | None]:
    """Windows/Boot of a WIM's boot image (its boot index, else 1) as a directory; None if it has none."""
    from pebuild.errors import PebuildError
    from pebuild.wim import Wim

    with tempfile.TemporaryDirectory(prefix="pebuild-check-wim-") as tmp:
        dest = Path(tmp)
        try:
            with Wim.open(path) as wim:
                index = wim.info.boot_index or 1
                wim.extract(index, ["Windows/Boot"], dest)
        except FormatError:
            raise
        except PebuildError:
            yield None
            return
        yield DirVolume(dest)
