"""What the sample's stand-in boot managers printed, checked against the media's own files.

The stand-ins (pebuild.sample.stubs, docs/sample.md) end a chain that got as far as the boot
manager with one serial line:

    <marker> [pxe file=<boot file> ][next=<path>:<size> ]bcd=<path> sha256=<16 hex> sdi=<path>:<size> wim=<path>:<size>

`pxe file=` comes from bootmgfw.efi started by firmware PXE, `next=` from efisys.bin's
bootx64.efi (cdboot.efi: the boot manager it would hand over to). The BIOS stand-ins print the
same line from bootmgr (read from the disc's ISO 9660 volume or the USB stick's FAT32 volume). A smoke boot passes only when those facts are the media's: the BCD with
that hash is the file at that path and is the store for the booted firmware (winload.efi for
UEFI, winload.exe for BIOS), and the ramdisk and next-stage files have the printed sizes.
`Media` looks files up in a PXE tree (a directory), an ISO (pycdlib through
pebuild.secureboot.volumes) or a USB image (its FAT volumes, pebuild.fat.reader).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pebuild.qemu.model import SmokeResult

LINE = re.compile(
    r"(?P<marker>PEBUILD-SAMPLE [^\r\n]*?|\S+) (?:pxe file=(?P<file>\S*) )?(?:next=(?P<next>\S+) )?"
    r"bcd=(?P<bcd>\S+) sha256=(?P<digest>[0-9a-f]{16}) sdi=(?P<sdi>\S+) wim=(?P<wim>\S+?)[\r\n]"
)
SAMPLE = "PEBUILD-SAMPLE "
#: what a UEFI boot of an ISO with the sample's efisys.bin (True) or efisys_noprompt.bin (False)
#: prints once its bootx64.efi found the BCD, the ramdisk and the next boot manager on the disc;
#: the noprompt image's marker also starts `PEBUILD-SAMPLE bootx64.efi`, so the prompt pattern
#: must not stop there. `2023 ` is the Secure Boot 2023 boot set's marker suffix.
UEFI_EXPECT = {
    True: r"PEBUILD-SAMPLE bootx64\.efi (?:2023 )?next=\S+ bcd=",
    False: r"PEBUILD-SAMPLE bootx64\.efi noprompt (?:2023 )?next=\S+ bcd=",
}


@dataclass(frozen=True)
class StandinLine:
    """One parsed facts line."""

    marker: str
    pxe_file: str | None
    next: str | None
    bcd: str
    digest: str
    sdi: str
    wim: str

    @property
    def program(self) -> str:
        """The stand-in's file name: the word after PEBUILD-SAMPLE (bootx64.efi, bootmgr, ...)."""
        words = self.marker.split()
        return words[1] if words[0] == SAMPLE.strip() and len(words) > 1 else words[0]

    @property
    def noprompt(self) -> bool:
        """Whether efisys_noprompt.bin's stand-in printed it (its marker says so)."""
        return "noprompt" in self.marker.split()[1:]


def parse(serial: str) -> StandinLine | None:
    """The first complete facts line in the serial text, or None."""
    m = LINE.search(serial)
    if m is None:
        return None
    return StandinLine(m["marker"], m["file"], m["next"], m["bcd"], m["digest"], m["sdi"], m["wim"])


class Media:
    """Files of boot media by backslash path, matched case-insensitively as firmware and TFTP do."""

    def __init__(self, volumes: list[object], name: str) -> None:
        self.name = name
        self._index: dict[str, tuple[object, str]] = {}
        for volume in volumes:
            for rel in volume.files():  # type: ignore[attr-defined]
                self._index.setdefault(rel.casefold(), (volume, rel))

    def read(self, path: str) -> bytes | None:
        key = path.replace("\\", "/").strip("/").casefold()
        hit = self._index.get(key)
        if hit is None:
            return None
        volume, rel = hit
        return volume.read(rel)  # type: ignore[attr-defined]


@contextmanager
def open_media(path: Path, kind: str) -> Iterator[Media]:
    """`kind` pxe (a tree), iso or usb (a disk image); the media's files for `check`."""
    from pebuild.secureboot.volumes import DirVolume, FatFiles, IsoVolume, disk_fat_offsets

    if kind == "pxe" or path.is_dir():
        yield Media([DirVolume(path)], str(path))
        return
    if kind == "iso":
        iso = IsoVolume(path)
        try:
            yield Media([iso], str(path))
        finally:
            iso.close()
        return
    from pebuild.fat.reader import FatVolume

    with path.open("rb") as fh:
        fats = [FatFiles(FatVolume(fh, off, name=f"{path}@{off}")) for off in disk_fat_offsets(fh, path)]
        yield Media(list(fats), str(path))


def check(serial: str, media: Media, firmware: str) -> tuple[bool, str] | None:
    """(passed, why) for the stand-in's facts line against `media`; None when there is no line."""
    line = parse(serial)
    if line is None:
        return None
    who = line.program
    data = media.read(line.bcd)
    if data is None:
        return False, f"{who} loaded {line.bcd}, which is not on the media"
    if hashlib.sha256(data).hexdigest()[:16] != line.digest:
        return False, f"{who} loaded {line.bcd} with sha256 {line.digest}, not the media's file"
    loader = "winload.efi" if firmware == "uefi" else "winload.exe"
    if loader.encode("utf-16-le") not in data:
        return False, f"{who} loaded {line.bcd}, a store without {loader}: the wrong BCD for {firmware}"
    sizes = {}
    for name, value in (("next", line.next), ("sdi", line.sdi), ("wim", line.wim)):
        if value is None:
            continue
        where, _, size = value.rpartition(":")
        content = media.read(where) if where else None
        if content is None or not size.isdigit() or len(content) != int(size):
            what = "boot manager it hands over to" if name == "next" else f"{name} its BCD names"
            return False, f"{who} did not get the {what} ({value}): not the media's file"
        sizes[name] = f"{where} {size} bytes"
    why = f"{who} loaded {line.bcd} ({loader}, sha256 {line.digest}); ramdisk {sizes['sdi']}, {sizes['wim']}"
    return True, why + (f"; next {sizes['next']}" if "next" in sizes else "")


def check_tree(serial: str, tree: Path, firmware: str) -> tuple[bool, str] | None:
    """`check` against a PXE tree.

    None also when a UEFI line has no `pxe file=`: bootmgfw.efi then was not started by firmware
    PXE but from wimboot's virtual disk, whose paths are not the tree's.
    """
    line = parse(serial)
    if line is None or (firmware == "uefi" and line.pxe_file is None):
        return None
    with open_media(tree, "pxe") as media:
        return check(serial, media, firmware)


def media_check(serial: str, media: Path, kind: str, firmware: str) -> tuple[bool, str] | None:
    """`check` against the booted media: a PXE tree, an ISO or a disk image (`kind` as the runner's)."""
    from pebuild.errors import PebuildError

    if kind == "pxe":
        return check_tree(serial, media, firmware)
    if parse(serial) is None:
        return None
    try:
        with open_media(media, "iso" if kind == "iso" else "usb") as files:
            return check(serial, files, firmware)
    except (PebuildError, OSError) as exc:
        return False, f"cannot read the media to compare the stand-in's facts: {exc}"


def apply(result: SmokeResult, serial: str, media: Path, kind: str, firmware: str) -> SmokeResult:
    """A passed boot whose stand-in facts are not the media's fails with why; a match is named."""
    verdict = media_check(serial, media, kind, firmware)
    if verdict is not None:
        ok, why = verdict
        if not ok and result.ok:
            result.ok = False
            result.reason = f"wrong boot: {why}"
        elif ok:
            result.reason += f"; {why}"
    return result
