"""A PXE tree as `pebuild pxe` writes it is served by dnsmasq after it drops privileges to `nobody`.

Before: every tree was mode 0700 (tempfile.mkdtemp), and dnsmasq running as
nobody said `TFTP directory … inaccessible: Permission denied` and `FAILED to
start up`. Also: `pebuild pxe` leaves nothing of its sources in $TMPDIR.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pxe_support import netns_dnsmasq

from _helpers import PEBUILD_CMD, require_tool


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Path]:
    """A directory `nobody` can enter (pytest's tmp_path is 0700), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="pebuild-perm-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pebuild_pxe(dest: Path, tmpdir: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TMPDIR": str(tmpdir),
        "XDG_CACHE_HOME": str(cache),
        "SOURCE_DATE_EPOCH": "1700000000",
    }
    return subprocess.run(
        [*PEBUILD_CMD, "pxe", "sample", str(dest)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=lambda: os.umask(0o022),
        timeout=300,
    )


def test_tree_is_readable_by_nobody_and_dnsmasq_as_nobody_serves_it(world: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("su") is None:
        pytest.skip("needs root to run commands and dnsmasq as nobody")
    require_tool("dnsmasq")
    dest, tmpdir = world / "tftp", tmp_path / "tmp"
    tmpdir.mkdir()
    proc = pebuild_pxe(dest, tmpdir, tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    for path in [dest, *dest.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
    files = [str(p) for p in dest.rglob("*") if p.is_file()]
    check = 'for f in "$@"; do test -r "$f" || echo "unreadable: $f"; done'
    nobody = subprocess.run(
        ["su", "nobody", "-s", "/bin/sh", "-c", check, "sh", *files],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nobody.returncode == 0 and nobody.stdout == "", nobody.stdout + nobody.stderr
    with netns_dnsmasq(world, tftp_root=dest, user="nobody") as server:
        got = server.fetch("Boot/x64/pxeboot.n12", out=world / "fetched.bin")
        assert (world / "fetched.bin").read_bytes() == (dest / "Boot/x64/pxeboot.n12").read_bytes()
        assert got
        ps = server.run(["ps", "-o", "user=", "-C", "dnsmasq"])
        assert "nobody" in ps.stdout.split(), ps.stdout
    assert not list(tmpdir.iterdir())  # no pebuild-src-* (the sample's extracted boot files) left behind


def test_user_data_in_the_tftp_root_survives(world: Path, tmp_path: Path) -> None:
    """The docs once pointed --pxe at /srv/tftp: a real server's root holds other things."""
    root = world / "srv-tftp"
    root.mkdir()
    (root / "pxelinux.0").write_bytes(b"another boot loader")
    (tmp_path / "tmp").mkdir()
    proc = pebuild_pxe(root, tmp_path / "tmp", tmp_path / "cache")
    assert proc.returncode == 8 and "pxelinux.0" in proc.stderr and "--force" in proc.stderr, proc.stderr
    assert (root / "pxelinux.0").read_bytes() == b"another boot loader"
    proc = pebuild_pxe(root / "winpe", tmp_path / "tmp", tmp_path / "cache")  # what docs/pxe.md suggests
    assert proc.returncode == 0, proc.stderr
    assert (root / "pxelinux.0").read_bytes() == b"another boot loader"
    assert (root / "winpe/Boot/x64/pxeboot.n12").is_file()
