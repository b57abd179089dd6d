"""`pebuild copype ARCH DEST`: the ADK's copype working tree from any source.

    DEST/media/    the media tree (copype copies the kit's Media/ and winpe.wim as sources/boot.wim)
    DEST/mount/    empty, where `pebuild mount` (or DISM) mounts boot.wim
    DEST/fwfiles/  etfsboot.com (BIOS arches), efisys.bin, efisys_noprompt.bin
    DEST/tools/    beyond copype: the kit's imagex.exe, Servicing/ and msxml6*.dll when present,
                   so `pebuild make --source DEST` can still apply the tool overlays

The source's own BCD stores are copied when it has them (that is what copype
does); a source without them (a bare WIM) gets stores from the BCD presets.

DEST is checked before the source is opened and written through
pebuild.outputs: staged beside it, published complete. An existing DEST is
replaced only if it is empty or a copype tree pebuild wrote that nobody changed
since (a working tree with a mounted image or added drivers is refused unless
`force`).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pebuild import clock
from pebuild.arches import normalize_arch
from pebuild.fsutil import copy_file
from pebuild.media import check_media_pe, collect_boot_files, has_bios, write_tree
from pebuild.outputs import TREE, Output, OutputOptions, Transaction, plan_outputs
from pebuild.source import open_source

TOOLS = ("imagex.exe", "Servicing", "msxml6*.dll")


@dataclass
class CopypeRequest:
    arch: str
    dest: Path
    source: str = "sample"
    timestamp: int | None = None
    outputs: OutputOptions = field(default_factory=OutputOptions)  # --force, --no-wait (pebuild.outputs)


@dataclass
class CopypeResult:
    dest: Path
    source_kind: str
    media_files: list[str]
    fwfiles: list[str]
    tools: list[str]


def copype(req: CopypeRequest) -> CopypeResult:
    req = dataclasses.replace(req, arch=normalize_arch(req.arch))
    t = clock.build_time(req.timestamp)
    inputs = [] if req.source == "sample" else [Path(req.source)]
    plan = plan_outputs([Output("copype", Path(req.dest), TREE)], inputs=inputs)
    with Transaction(plan, req.outputs) as tx, open_source(req.source, req.arch) as src:
        result = _write(req, src, tx.path("copype"), t)
        tx.publish()
    return result


def _write(req: CopypeRequest, src: Any, tmp: Path, t: int) -> CopypeResult:
    """media/, fwfiles/, mount/ and tools/ into the staged tree `tmp`."""
    bcd_bios = src.boot_file("bcd-pcat") if has_bios(req.arch) and src.has_boot_file("bcd-pcat") else None
    bcd_uefi = src.boot_file("bcd-efi") if src.has_boot_file("bcd-efi") else None
    if bcd_uefi is None or (has_bios(req.arch) and bcd_bios is None):
        from pebuild.bcd import presets

        if bcd_uefi is None:
            bcd_uefi = presets.create("iso-uefi", timestamp=t).serialize(timestamp=t)
        if has_bios(req.arch) and bcd_bios is None:
            bcd_bios = presets.create("iso-bios", timestamp=t).serialize(timestamp=t)
    from pebuild.make.run import _boot_sdi

    files = collect_boot_files(
        src,
        req.arch,
        prompt=True,
        bcd_bios=bcd_bios,
        bcd_uefi=bcd_uefi,
        boot_sdi=_boot_sdi(src, t),
        require_bootfix=False,
    )
    check_media_pe(files.files, req.arch)
    media = tmp / "media"
    media.mkdir()
    copy_file(src.boot_wim_path(tmp), media / "boot.wim.tmp")
    files.put("sources/boot.wim", media / "boot.wim.tmp")
    written = write_tree(media, files.files, mtime=t)
    (media / "boot.wim.tmp").unlink()
    fw = write_tree(tmp / "fwfiles", dict(files.fwfiles), mtime=t)
    (tmp / "mount").mkdir()
    tools: list[str] = []
    for pattern in TOOLS:
        for hit in src.tool_files(pattern):
            target = tmp / "tools" / hit.name
            target.parent.mkdir(exist_ok=True)
            if hit.is_dir():
                shutil.copytree(hit, target)
            else:
                copy_file(hit, target)
            tools.append(hit.name)
    stray = tmp / "source-boot.wim"
    if stray.exists():
        stray.unlink()
    kind = src.kind
    return CopypeResult(req.dest, kind, written, fw, tools)
