"""Readers the ISO tests share: independent tools, parsed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


def run(*cmd: str | Path) -> str:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (cmd, proc.stderr)
    return proc.stdout + proc.stderr


def el_torito_report(iso: Path) -> list[list[str]]:
    """Rows of `xorriso -report_el_torito plain` 'El Torito boot img' lines, split into fields."""
    out = run("xorriso", "-indev", iso, "-report_el_torito", "plain")
    return [
        line.split(":", 1)[1].split() for line in out.splitlines() if line.startswith("El Torito boot img")
    ]


def iso_extents(iso: Path, joliet: bool = False) -> dict[str, int]:
    """File path -> start LBA from `isoinfo -l` (directories left out)."""
    args = ["isoinfo", "-l", "-i", iso] + (["-J"] if joliet else [])
    out = run(*args)
    result: dict[str, int] = {}
    cwd = "/"
    for line in out.splitlines():
        m = re.match(r"Directory listing of (.*)$", line)
        if m:
            cwd = m.group(1)
            continue
        m = re.match(r"^(\S)\S*\s.*\[\s*(\d+)\s+\d+\]\s+(.*?)\s*$", line)
        if m and m.group(1) == "-":
            result[cwd + m.group(3)] = int(m.group(2))
    return result


def sevenzip_list(iso: Path, fmt: str) -> dict[str, int]:
    """Path -> size of files as 7-Zip's reader for `fmt` ('udf' or 'iso') sees them."""
    out = run("7z", "l", "-slt", f"-t{fmt}", iso)
    entries: dict[str, int] = {}
    for block in out.split("\n\n"):
        fields = dict(line.split(" = ", 1) for line in block.splitlines() if " = " in line)
        if "Path" in fields and fields.get("Folder") == "-" and "Size" in fields:
            entries[fields["Path"]] = int(fields["Size"])
    return entries


def volume_descriptors(iso: Path) -> list[bytes]:
    """The raw 2048-byte volume descriptors from sector 16 to the terminator (ECMA-119 8.1)."""
    out = []
    with open(iso, "rb") as fh:
        sector = 16
        while True:
            fh.seek(sector * 2048)
            vd = fh.read(2048)
            out.append(vd)
            if vd[0] == 255 or vd[1:6] != b"CD001":
                return out
            sector += 1


def isoinfo_extract(iso: Path, iso_path: str, joliet: bool = False) -> bytes:
    """File content as `isoinfo -x` reads it from the ISO 9660 (or Joliet) tree."""
    args = ["isoinfo", "-i", str(iso), "-x", iso_path] + (["-J"] if joliet else [])
    proc = subprocess.run(args, capture_output=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
