"""Read-only views of what `pebuild check` looks into: a directory, an ISO, a FAT volume, a WIM.

Each view lists file paths ('/'-joined, as stored) and reads one file. The ISO
view reads ISO 9660/Joliet/UDF names through pebuild.source's pycdlib reader
and parses the El Torito boot catalog itself (El Torito 1.0 §2: boot record
volume descriptor at sector 17, validation entry, initial entry, section
headers 0x90/0x91 with platform 0xEF = EFI). A USB image is an MBR or GPT disk
whose FAT partitions are opened in place.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from pebuild.errors import FormatError
from pebuild.secureboot.fatread import FatVolume

ISO_SECTOR = 2048
EFI_PLATFORM = 0xEF


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


def el_torito_efi_images(fh: BinaryIO) -> list[tuple[int, int]]:
    """(byte offset, 512-byte sector count) of every EFI entry in the boot catalog."""
    fh.seek(17 * ISO_SECTOR)
    record = fh.read(ISO_SECTOR)
    if record[:6] != b"\x00CD001" or record[7:30].rstrip(b"\0") != b"EL TORITO SPECIFICATION":
        return []
    catalog_lba = struct.unpack_from("<I", record, 0x47)[0]
    fh.seek(catalog_lba * ISO_SECTOR)
    catalog = fh.read(ISO_SECTOR)
    if catalog[0] != 0x01 or catalog[30:32] != b"\x55\xaa":
        return []
    out = []
    platform = catalog[1]
    pos = 32
    entry = catalog[pos : pos + 32]
    if entry[0] == 0x88 and platform == EFI_PLATFORM:
        out.append(_boot_entry(entry))
    pos += 32
    while pos + 32 <= len(catalog) and catalog[pos] in (0x90, 0x91):
        header = catalog[pos : pos + 32]
        platform, count = header[1], struct.unpack_from("<H", header, 2)[0]
        pos += 32
        for _ in range(count):
            entry = catalog[pos : pos + 32]
            if entry[0] == 0x88 and platform == EFI_PLATFORM:
                out.append(_boot_entry(entry))
            pos += 32
        if header[0] == 0x91:
            break
    return out


def _boot_entry(entry: bytes) -> tuple[int, int]:
    sectors, rba = struct.unpack_from("<HI", entry, 6)
    return rba * ISO_SECTOR, sectors


def disk_fat_offsets(fh: BinaryIO) -> list[int]:
    """Byte offsets of FAT volumes on a raw disk image: MBR entries, GPT entries, or a superfloppy."""
    from pebuild.fat import fat_type

    fh.seek(0)
    mbr = fh.read(512)
    starts: list[int] = []
    if len(mbr) == 512 and mbr[510:512] == b"\x55\xaa":
        for i in range(4):
            ptype = mbr[446 + 16 * i + 4]
            lba = struct.unpack_from("<I", mbr, 446 + 16 * i + 8)[0]
            if ptype == 0xEE:
                starts += _gpt_starts(fh)
            elif ptype and lba:
                starts.append(lba * 512)
    offsets = []
    for start in [0, *starts]:
        fh.seek(start)
        if fat_type(fh.read(512)) is not None:
            offsets.append(start)
    return sorted(set(offsets))


def _gpt_starts(fh: BinaryIO) -> list[int]:
    fh.seek(512)
    header = fh.read(92)
    if header[:8] != b"EFI PART":
        return []
    entries_lba, count, size = struct.unpack_from("<QII", header, 72)
    fh.seek(entries_lba * 512)
    table = fh.read(min(count, 256) * size)
    out = []
    for i in range(len(table) // size):
        entry = table[i * size : (i + 1) * size]
        if entry[:16] != bytes(16):
            out.append(struct.unpack_from("<Q", entry, 32)[0] * 512)
    return out


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
