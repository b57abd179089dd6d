"""A file over 4 GiB: ISO 9660 multi-extent records and UDF extents, read back by xorriso, isoinfo and 7z.

The big file is sparse and the writer skips its holes, so the test needs a few MiB of disk,
not 8 GiB; sparse and dense inputs give byte-identical ISOs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from iso_support import run

from _helpers import require_tool
from pebuild.iso import IsoRequest, write_iso
from pebuild.iso._pycdlib import DeferredCopy, copy_deferred

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
        assert _allocated(big) < 64 * 1024**2  # the file system keeps holes (else this test needs 8 GiB)
        assert _allocated(out) < 64 * 1024**2, _allocated(out)  # the writer skipped the source's holes
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


def _allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def _sparse(path: Path, size: int, pieces: dict[int, bytes]) -> None:
    with open(path, "wb") as fh:
        for offset, data in pieces.items():
            fh.seek(offset)
            fh.write(data)
        fh.truncate(size)


def test_sparse_and_dense_inputs_give_the_same_iso(tmp_path: Path) -> None:
    """Holes at the start, middle and end of files (and a file that is one hole) read as zeros."""
    require_tool("7z")
    mib = 1024**2
    layouts = {
        "lead.bin": (5 * mib + 7, {3 * mib: b"after a hole"}),
        "middle.bin": (9 * mib, {0: b"head" * 1000, 8 * mib: b"tail" * 1000}),
        "trail.bin": (6 * mib + 1, {0: b"only a head"}),
        "empty.bin": (4 * mib, {}),
    }
    isos = {}
    for kind in ("sparse", "dense"):
        media = tmp_path / kind / "media"
        media.mkdir(parents=True)
        for name, (size, pieces) in layouts.items():
            _sparse(media / name, size, pieces)
            if kind == "dense":  # the same bytes with every block allocated
                (media / name).write_bytes((media / name).read_bytes())
        out = tmp_path / kind / "out.iso"
        write_iso(IsoRequest(media, out, None, None, timestamp=0))
        isos[kind] = out
    assert (
        hashlib.sha256(isos["sparse"].read_bytes()).digest()
        == hashlib.sha256(isos["dense"].read_bytes()).digest()
    )
    assert _allocated(isos["sparse"]) < _allocated(isos["dense"]) - 16 * mib
    for name, (size, pieces) in layouts.items():
        data = subprocess.run(
            ["7z", "e", "-so", "-tudf", str(isos["sparse"]), name], capture_output=True, check=True
        ).stdout
        expected = bytearray(size)
        for offset, piece in pieces.items():
            expected[offset : offset + len(piece)] = piece
        assert data == expected, name


def test_a_source_that_shrank_is_an_error_not_zeros(tmp_path: Path) -> None:
    src, out = tmp_path / "src.bin", tmp_path / "out.bin"
    _sparse(src, 1024**2, {0: b"x" * 4096})
    out.write_bytes(b"")
    fd = os.open(out, os.O_WRONLY)
    try:
        with pytest.raises(OSError, match="shrank"):
            copy_deferred(fd, DeferredCopy(0, 2 * 1024**2, str(src), 0), lambda offset: None)
    finally:
        os.close(fd)
