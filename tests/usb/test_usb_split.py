"""A 4.5 GiB install.wim on the USB image: split into .swm parts, checked by independent readers.

The WIM is generated: five 0.9 GiB files, zeros but for a random head, captured
uncompressed by wimlib-imagex, so the WIM really is 4.5 GiB while the sources are
sparse and every step streams page-cache-friendly zeros. Checked: fsck.fat on the
FAT32 partition, the parts listed by mtools and copied out with mcopy,
`wimlib-imagex verify` of part 1 with --ref, a join (pebuild.wim.split) whose
apply equals the source tree.

Speed: every dense 4.5 GiB write costs ~20 s on a busy disk (page-cache writeback),
and wimlib writes the WIM, the parts and the joined WIM densely. So those files and
the image live in a scratch directory on /dev/shm when it has 12 GiB free (peak use
there ~9 GiB for a few seconds: the parts pebuild stages beside the image plus the
image), else in tmp_path; everything kept on disk is sparse (dd conv=sparse,
wimlib's sparse extraction). Each big file is deleted as soon as it is checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from usb_support import make_media

from _helpers import require_tool
from pebuild.usb import UsbRequest, write_usb_image
from pebuild.wim.split import join_wim

GIB = 1 << 30
MIB = 1 << 20
FILE_SIZE = 9 * GIB // 10
FILES = 5


def _digest(path: Path) -> tuple[int, dict[int, str]]:
    """A sparse file's content: its size and the SHA-256 of each non-zero 1 MiB block.

    Only data extents are read (SEEK_DATA/SEEK_HOLE); a hole, or zeros written as
    data, count as zero blocks, so two files compare equal exactly when their bytes do.
    """
    size, pos, blocks = path.stat().st_size, 0, {}
    with open(path, "rb") as fh:
        fd = fh.fileno()
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA) // MIB * MIB
            except OSError:  # ENXIO: only a hole is left
                break
            stop = os.lseek(fd, start, os.SEEK_HOLE)
            for block in range(start, stop, MIB):
                fh.seek(block)
                data = fh.read(MIB)
                if data.strip(b"\0"):
                    blocks[block // MIB] = hashlib.sha256(data).hexdigest()
            pos = max(stop, start + MIB)
    return size, blocks


def _big_tree(root: Path) -> dict[str, str]:
    """Five sparse files of 0.9 GiB, distinct by a random head; returns name -> content."""
    rng = random.Random(4500)
    root.mkdir()
    digests = {}
    for i in range(FILES):
        path = root / f"part{i}.dat"
        with open(path, "wb") as fh:
            fh.write(rng.randbytes(64 * 1024))
            fh.truncate(FILE_SIZE)
        digests[path.name] = _digest(path)
    return digests


@contextlib.contextmanager
def _scratch(tmp_path: Path) -> Iterator[Path]:
    """Where the dense 4.5 GiB files go: RAM (/dev/shm) when it has room, else tmp_path."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free >= 12 * GIB:
        path = Path(tempfile.mkdtemp(prefix="pebuild-test-split-", dir=shm))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path


@pytest.mark.slow  # measured 85-135 s with the 2 cores loaded (load ~2.5); phases in docs/usb.md
def test_install_wim_over_4_gib_is_split_onto_the_stick(tmp_path: Path) -> None:
    with _scratch(tmp_path) as heavy:
        _split_onto_the_stick(tmp_path, heavy)


def _split_onto_the_stick(tmp_path: Path, heavy: Path) -> None:
    tool = require_tool("wimlib-imagex")
    require_tool("mdir")
    fsck = require_tool("fsck.vfat")
    digests = _big_tree(tmp_path / "src")
    media = make_media(tmp_path)
    wim = media / "sources" / "install.wim"
    dense = heavy / "install.wim"
    subprocess.run(
        [tool, "capture", str(tmp_path / "src"), str(dense), "Big", "--compress=none"],
        check=True,
        capture_output=True,
    )
    subprocess.run(["cp", "--sparse=always", str(dense), str(wim)], check=True)
    dense.unlink()
    assert wim.stat().st_size >= 4.5 * GIB - 64 * MIB
    image = heavy / "stick.img"
    result = write_usb_image(UsbRequest(media, image, split_size=2000 * MIB))
    wim.unlink()  # free the disk: from here on only the image holds the data
    assert result.split == ["sources/install.swm", "sources/install2.swm", "sources/install3.swm"]
    assert any("sources/install.wim" in n and "3 parts" in n for n in result.notes), result.notes
    offset = result.partition_offset
    part = tmp_path / "part.img"  # fsck.fat wants the volume alone: a sparse copy of the partition
    subprocess.run(
        ["dd", f"if={image}", f"of={part}", "bs=1M", f"skip={offset // MIB}", "conv=sparse", "status=none"],
        check=True,
    )
    proc = subprocess.run([fsck, "-n", str(part)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    part.unlink()
    listing = subprocess.run(
        ["mdir", "-b", "-i", f"{image}@@{offset}", "::/sources"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "install.wim" not in listing
    out = tmp_path / "parts"
    out.mkdir()
    for name in ("install.swm", "install2.swm", "install3.swm"):
        assert f"::/sources/{name}" in listing, listing
        # mcopy reads the FAT chain (independent reader); dd writes the zeros as holes (small on disk)
        subprocess.run(
            f"mcopy -n -i '{image}@@{offset}' '::/sources/{name}' - | dd of='{out / name}' bs=1M conv=sparse status=none",
            shell=True,
            check=True,
        )
        assert 0 < (out / name).stat().st_size < 4 * GIB
    image.unlink()
    verify = subprocess.run(
        [tool, "verify", str(out / "install.swm"), f"--ref={out}/install*.swm"],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0 and "successfully verified" in verify.stdout, verify.stdout + verify.stderr
    joined = heavy / "joined.wim"
    join_wim([out / "install.swm"], joined)
    for p in out.iterdir():
        p.unlink()
    applied = tmp_path / "applied"
    subprocess.run([tool, "apply", str(joined), "1", str(applied)], check=True, capture_output=True)
    joined.unlink()
    assert {p.name: _digest(p) for p in applied.iterdir()} == digests
