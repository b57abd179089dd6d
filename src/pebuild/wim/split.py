"""Split a WIM into .swm parts and join parts back: libwim's wimlib_split / wimlib_join.

Why: FAT32 holds files below 4 GiB, and a captured install image is often
bigger. Windows Setup and `DISM /Apply-Image /SWMFile` / `imagex /ref` read a
split set named install.swm, install2.swm, install3.swm, ... (part 1 keeps the
base name); wimlib_split writes exactly those names. A part holds whole
resources, so one file bigger than the part size makes a bigger part (checked
by the caller that needs a limit).

Solid WIMs (LZMS, the ESD layout, WIM version 0xE00) keep many files in one
resource; wimlib cannot split those, so they are refused unless `recompress`
asks for an export to LZX first (slow: every file is decompressed and
compressed again).
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
from pathlib import Path

from pebuild.errors import FormatError, OutputError, UsageError
from pebuild.progress import Progress
from pebuild.wim import _libwim as L
from pebuild.wim.image import Wim
from pebuild.wim.model import Compression

MIB = 1 << 20
DEFAULT_PART_SIZE = 4000 * MIB  # what Make2023BootableMedia.ps1 and Rufus use: below FAT32's 4 GiB
MIN_PART_SIZE = MIB


def part_names(swm_name: str, count: int) -> list[str]:
    """install.swm -> install.swm, install2.swm, ...: the names wimlib writes and Setup expects."""
    stem, dot, ext = swm_name.rpartition(".")
    if not dot:
        stem, ext = swm_name, ""
    suffix = f".{ext}" if ext else ""
    return [swm_name] + [f"{stem}{n}{suffix}" for n in range(2, count + 1)]


def _check_splittable(wim: Wim, path: Path, recompress: bool) -> bool:
    """True when the WIM must be exported to LZX first (solid); refuse split sets and, without
    `recompress`, solid WIMs."""
    info = wim.info
    if info.total_parts > 1:
        raise UsageError(f"already part {info.part_number} of a {info.total_parts}-part split WIM", path=path)
    solid = info.wim_version == L.WIM_VERSION_SOLID
    if solid and not recompress:
        raise UsageError(
            "a solid (LZMS/ESD) WIM cannot be split by wimlib: export it to LZX first "
            "(--recompress does that, or `pebuild export SRC.esd INDEX OUT.wim --compress lzx` per image)",
            path=path,
        )
    return solid


def split_wim(
    source: str | os.PathLike[str],
    swm_path: str | os.PathLike[str],
    part_size: int = DEFAULT_PART_SIZE,
    *,
    recompress: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """Write `source` as parts swm_path (install.swm), install2.swm, ... of at most `part_size` bytes
    each (unless one resource is bigger); returns the part paths in order.

    `swm_path`'s directory must exist; existing parts of that name are replaced (callers
    that must not overwrite stage the parts in a fresh directory: pebuild.outputs).
    """
    src, target = Path(source), Path(swm_path)
    if part_size < MIN_PART_SIZE:
        raise UsageError(f"part size {part_size} is below {MIN_PART_SIZE} bytes (1 MiB)")
    if not target.parent.is_dir():
        raise OutputError("directory for the .swm parts does not exist", path=target.parent)
    with Wim.open(src) as wim:
        if not _check_splittable(wim, src, recompress):
            _split(wim, target, part_size, progress)
            return _parts(target)
    with tempfile.TemporaryDirectory(prefix=".pebuild-split-", dir=target.parent) as tmp:
        lzx = Path(tmp) / "lzx.wim"
        with Wim.open(src) as wim:
            wim.write(lzx, compression=Compression.LZX, progress=progress)
        with Wim.open(lzx) as wim:
            _split(wim, target, part_size, progress)
    return _parts(target)


def _split(wim: Wim, target: Path, part_size: int, progress: Progress | None) -> None:
    wim._call(
        "cannot split WIM",
        L.lib().wimlib_split,
        wim.handle,
        L.encode(target),
        part_size,
        # the source's GUID, not a random one: reproducible parts; never pipable (wimlib's own
        # format, which a pipable source would pass on): Setup and DISM read only standard parts
        L.WIMLIB_WRITE_FLAG_RETAIN_GUID | L.WIMLIB_WRITE_FLAG_NOT_PIPABLE,
        progress=progress,
        default=OutputError,
    )


def _parts(first: Path) -> list[Path]:
    """The parts wimlib wrote for `first` (install.swm, install2.swm, ...), read from part 1's header."""
    with Wim.open(first) as part:
        total = part.info.total_parts
    names = part_names(first.name, total)
    paths = [first.with_name(n) for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FormatError(f"split set is missing {missing[0].name}", path=first)
    return paths


def find_parts(first: str | os.PathLike[str]) -> list[Path]:
    """install.swm -> [install.swm, install2.swm, ...] (what `join` and `--ref` take), from part 1."""
    path = Path(first)
    if not path.is_file():
        raise UsageError("no such .swm part", path=path)
    return _parts(path)


def join_wim(
    parts: list[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    check: bool = False,
) -> None:
    """Join a split set (all parts, any order) into one WIM at `output` (atomic: temp file + rename)."""
    if not parts:
        raise UsageError("join needs the .swm parts")
    paths = [Path(p) for p in parts]
    for p in paths:
        if not p.is_file():
            raise UsageError("no such .swm part", path=p)
    if len(paths) == 1 and re.fullmatch(r"(?i).*\.swm", paths[0].name):
        paths = find_parts(paths[0])  # part 1 alone: its siblings by Setup's names
    target = Path(output)
    if not target.parent.is_dir():
        raise OutputError("output directory does not exist", path=target.parent)
    array = (ctypes.c_char_p * len(paths))(*(L.encode(p) for p in paths))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        flags = L.WIMLIB_WRITE_FLAG_FSYNC | (L.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY if check else 0)
        from pebuild import interrupts

        with interrupts.deferred():
            code = L.lib().wimlib_join(array, len(paths), L.encode(tmp), 0, flags)
        L.check(code, "cannot join the .swm parts", paths[0], default=FormatError)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
