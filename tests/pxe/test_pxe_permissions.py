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
from pathlib import Path

import pytest
from pxe_support import netns_dnsmasq

from _helpers import PEBUILD_CMD, require_tool


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
    with netns_dnsmasq(tmp_path, tftp_root=dest) as server:  # no --user: dnsmasq's default, nobody
        assert server.user() == "nobody"
        got = server.fetch("\\Boot\\x64\\pxeboot.n12", out=tmp_path / "fetched.bin")
        assert (tmp_path / "fetched.bin").read_bytes() == (dest / "Boot/x64/pxeboot.n12").read_bytes()
        assert got["size"] == (dest / "Boot/x64/pxeboot.n12").stat().st_size
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
