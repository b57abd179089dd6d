"""The sample's BIOS stand-in chain (etfsboot.com -> bootmgr, docs/sample.md), checked from outside.

`bootmgr` prints one line naming the BCD it read (with a short SHA-256) and the ramdisk files the
BCD points at (with their sizes); `check_iso_line` compares those facts with the ISO's own files as
xorriso (osirrox) extracts them, and `gut_iso` rebuilds a disc without one file through pebuild's
own ISO writer, for the negative tests (a disc lacking a file the chain needs must fail its smoke).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from _helpers import require_tool

#: the line format the PXE stand-ins share (pebuild.qemu.netboot `_BCD_LINE`)
BIOS_LINE = re.compile(
    r"(PEBUILD-SAMPLE \S+) bcd=(\S+) sha256=([0-9a-f]{16}) sdi=(\S+):(\d+) wim=(\S+):(\d+)"
)


def extract_iso(iso: Path, dest: Path) -> Path:
    """The disc's files as xorriso reads them (Joliet/Rock Ridge names), writable for editing."""
    xorriso = require_tool("xorriso")
    cmd = [xorriso, "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def find_file(tree: Path, path: str) -> Path | None:
    """`\\dir\\file` under `tree`, compared case-insensitively like the firmware's file systems do."""
    here = tree
    for part in [p for p in path.replace("\\", "/").split("/") if p]:
        matches = [c for c in here.iterdir() if c.name.casefold() == part.casefold()] if here.is_dir() else []
        if not matches:
            return None
        here = matches[0]
    return here if here.is_file() else None


def check_iso_line(serial: str, tree: Path, marker: str = "PEBUILD-SAMPLE bootmgr") -> str:
    """Assert bootmgr's line names `tree`'s own BCD, boot.sdi and boot.wim; return the line."""
    match = BIOS_LINE.search(serial)
    assert match, f"no bootmgr line in the serial log:\n{serial}"
    program, bcd, digest, sdi, sdi_size, wim, wim_size = match.groups()
    assert program == marker
    bcd_file = find_file(tree, bcd)
    assert bcd_file is not None, bcd
    assert hashlib.sha256(bcd_file.read_bytes()).hexdigest()[:16] == digest
    assert "winload.exe".encode("utf-16-le") in bcd_file.read_bytes()  # the BIOS store, not the UEFI one
    for path, size in ((sdi, sdi_size), (wim, wim_size)):
        file = find_file(tree, path)
        assert file is not None and file.stat().st_size == int(size), (path, size)
    assert sdi.lower().endswith(".sdi") and wim.lower().endswith(".wim")
    return match.group(0)


def gut_iso(tree: Path, etfsboot: Path, drop: str, out: Path, work: Path) -> Path:
    """An ISO of `tree` without `drop` (a path under it), written by pebuild.iso like any other."""
    from pebuild.iso import IsoRequest, write_iso

    media = work / f"media-{drop.replace('/', '_')}"
    shutil.copytree(tree, media)
    target = find_file(media, drop)
    assert target is not None, drop
    target.unlink()
    write_iso(IsoRequest(media, out, bios_boot=etfsboot, timestamp=1))
    return out
