"""A file over 4 GiB: ISO 9660 multi-extent records and UDF extents, read back by xorriso, isoinfo and 7z."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from iso_support import run

from _helpers import require_tool
from pebuild.iso import IsoRequest, write_iso

BIG = 4 * 1024**3 + 5 * 1024**2 + 123  # over 4 GiB and not a multiple of 2048
HEAD = b"PEBUILD-BIG-HEAD" * 64
TAIL = b"PEBUILD-BIG-TAIL" * 64


def _tail_via_pipe(cmd: list[str], size: int) -> bytes:
    """Stream a reader's stdout, keep the last len(TAIL) bytes and count them all."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        total, last = 0, b""
        while chunk := proc.stdout.read(1 << 20):
            total += len(chunk)
            last = (last + chunk)[-len(TAIL) :]
        assert proc.wait() == 0
    assert total == size
    return last


@pytest.mark.slow
def test_iso_bigfile_over_4gib(tmp_path: Path):
    for tool in ("xorriso", "isoinfo", "7z"):
        require_tool(tool)
    free = shutil.disk_usage(tmp_path).free
    if free < 12 * 1024**3:
        pytest.skip(f"needs 12 GiB free in {tmp_path}, {free // 1024**3} GiB available")
    media = tmp_path / "media" / "sources"
    media.mkdir(parents=True)
    big = media / "install.wim"
    with open(big, "wb") as fh:  # sparse: only head and tail take space on the source side
        fh.write(HEAD)
        fh.seek(BIG - len(TAIL))
        fh.write(TAIL)
    out = tmp_path / "big.iso"
    try:
        result = write_iso(IsoRequest(tmp_path / "media", out, None, None, timestamp=0))
        assert result.size > BIG
        # ISO 9660/Joliet: level 3 multi-extent, so the record chain covers the whole size (xorriso reads Joliet names)
        report = run("xorriso", "-indev", out, "-find", "/sources/install.wim", "-exec", "report_lba", "--")
        extents = [line for line in report.splitlines() if line.startswith("File data lba:")]
        assert len(extents) >= 2, report
        assert sum(int(line.split(",")[2]) for line in extents) * 2048 >= BIG
        cut = tmp_path / "cut"
        run(
            "xorriso",
            "-osirrox",
            "on",
            "-indev",
            out,
            "-extract_cut",
            "/sources/install.wim",
            str(BIG - len(TAIL)),
            str(len(TAIL)),
            cut,
        )
        assert cut.read_bytes() == TAIL
        # isoinfo: the ISO 9660 records of the file add up to its size; -x reads the record it finds
        # (the last extent: isoinfo does not join multi-extent files), which ends with the tail
        records = [
            ln for ln in run("isoinfo", "-l", "-i", out).splitlines() if ln.rstrip().endswith("INSTALL.WIM;1")
        ]
        sizes = [int(ln.split()[4]) for ln in records]  # mode, 3 ids, size
        assert len(records) >= 2 and sum(sizes) == BIG, records
        assert _tail_via_pipe(["isoinfo", "-i", str(out), "-x", "/SOURCES/INSTALL.WIM;1"], sizes[-1]) == TAIL
        # UDF: 7-Zip's UDF reader streams the file through its allocation descriptors
        assert _tail_via_pipe(["7z", "e", "-so", "-tudf", str(out), "sources/install.wim"], BIG) == TAIL
    finally:
        out.unlink(missing_ok=True)
