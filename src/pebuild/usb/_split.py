"""Large WIMs on the FAT32 partition: each .wim of 4 GiB or more becomes .swm parts (pebuild.wim.split).

Why: FAT32 holds files below 4 GiB, and the captured install image the technician
carries is often bigger. Windows Setup and `DISM /Apply-Image /SWMFile:install.swm
/SWMFilePattern:install*.swm` read a split set named install.swm, install2.swm, ...
in the same directory, so sources/install.wim becomes sources/install.swm + parts.
sources/boot.wim is refused instead: bootmgr's ramdisk loads one WIM file, a split
boot.wim would not boot. Any other file of 4 GiB or more is refused by name.
"""

from __future__ import annotations

from pathlib import Path

from pebuild.errors import UsageError
from pebuild.fat import FatFile
from pebuild.progress import Progress

FAT32_MAX_FILE = (1 << 32) - 1
GIB = 1 << 30


def _gib(size: int) -> str:
    return f"{size / GIB:.2f} GiB"


def split_large_wims(
    files: dict[str, FatFile],
    workdir: Path,
    part_size: int,
    *,
    recompress: bool = False,
    progress: Progress | None = None,
) -> tuple[dict[str, FatFile], list[str]]:
    """The tree with each big .wim replaced by its parts (written under `workdir`), and notes saying so."""
    big = {rel: f for rel, f in files.items() if (f.size or 0) > FAT32_MAX_FILE}
    others = [rel for rel in big if not rel.casefold().endswith(".wim")]
    if others:
        rel = others[0]
        raise UsageError(
            f"{rel} is {_gib(big[rel].size or 0)} but FAT32 holds files below 4 GiB "
            "(only .wim files are split, into .swm parts); leave it out or use the ISO output"
        )
    for rel in big:
        if rel.casefold() == "sources/boot.wim":
            raise UsageError(
                f"{rel} is {_gib(big[rel].size or 0)}: FAT32 holds files below 4 GiB and a split boot.wim "
                "does not boot (the ramdisk loads one file); make it smaller or use the ISO output"
            )
    if not big:
        return files, []
    if not 1 << 20 <= part_size <= FAT32_MAX_FILE:
        raise UsageError(f"split size {part_size} must be from 1 MiB to 4 GiB - 1 byte")
    from pebuild.wim.split import split_wim

    out = dict(files)
    notes = []
    folded = {rel.casefold() for rel in files}
    for n, (rel, f) in enumerate(sorted(big.items())):
        stem = rel[: -len(".wim")]
        directory, _, base = stem.rpartition("/")
        scratch = workdir / str(n)
        scratch.mkdir()
        assert isinstance(f.source, Path)
        parts = split_wim(
            f.source, scratch / f"{base}.swm", part_size, recompress=recompress, progress=progress
        )
        del out[rel]
        for part in parts:
            size = part.stat().st_size
            name = f"{directory}/{part.name}" if directory else part.name
            if name.casefold() in folded:
                raise UsageError(f"{rel} would be split into {name}, which the media tree already has")
            if size > FAT32_MAX_FILE:
                raise UsageError(
                    f"{rel}: part {part.name} is {_gib(size)} because one file in the WIM is that big; "
                    "FAT32 cannot hold it (use the ISO output)"
                )
            out[name] = FatFile(part, size=size)
        notes.append(
            f"{rel} ({_gib(f.size or 0)}) split into {len(parts)} parts {parts[0].name} .. {parts[-1].name} "
            f"(apply with /SWMFile:{parts[0].name} /SWMFilePattern:{base}*.swm)"
        )
    return dict(sorted(out.items())), notes
