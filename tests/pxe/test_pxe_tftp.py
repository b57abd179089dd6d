"""A real dnsmasq, started from the generated dnsmasq.conf in a network namespace of the test's own
(127.0.0.1 only), serves the tree; atftp and a minimal RFC 1350/2347/7440 client fetch boot.wim."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pxe_support import netns_dnsmasq

from _helpers import require_tool
from pebuild.pxe import PxeRequest, write_pxe_tree

WIM = "Boot/x64/Images/boot.wim"


@pytest.fixture(scope="module")
def served_tree(tmp_path_factory: pytest.TempPathFactory, boot_wims: dict[str, Path]) -> Path:
    dest = tmp_path_factory.mktemp("served") / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], dhcp_range="10.99.0.0", timestamp=1))
    return dest


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dnsmasq_serves_boot_wim_with_the_bcd_tftp_options(served_tree: Path, tmp_path: Path) -> None:
    atftp = require_tool("atftp")
    size = (served_tree / WIM).stat().st_size
    assert size > 100 * 1456  # several windows' worth of blocks
    with netns_dnsmasq(tmp_path, conf_file=served_tree / "conf/dnsmasq.conf") as server:
        # atftp asks for blksize and windowsize as bootmgr does (BCD 35000007/35000008), Windows-style path
        out = tmp_path / "atftp.wim"
        proc = server.run(
            [atftp, "--option", "blksize 1456", "--option", "windowsize 4", "-g",
             "-r", "\\Boot\\x64\\Images\\boot.wim", "-l", str(out), "127.0.0.1", "69"]
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert digest(out) == digest(served_tree / WIM)

        # what dnsmasq acknowledged: blksize and tsize yes; windowsize (RFC 7440) is not implemented by
        # dnsmasq 2.90, so it is left out of the OACK and the transfer runs lock-step (window 1)
        tuned = server.fetch("\\Boot\\x64\\Images\\boot.wim", blksize=1456, windowsize=4, tsize=0)
        assert tuned["oack"] == {"blksize": "1456", "tsize": str(size)}
        assert tuned["sha256"] == digest(served_tree / WIM)
        assert tuned["blocks"] == size // 1456 + 1

        plain = server.fetch("Boot/x64/Images/boot.wim")
        assert plain["oack"] == {} and plain["blocks"] == size // 512 + 1
        assert plain["sha256"] == digest(served_tree / WIM)

        # the files the boot managers ask for next, by their Windows names
        for name, rel in (("\\Boot\\BCD", "Boot/BCD"), ("\\Boot\\x64\\boot.sdi", "Boot/x64/boot.sdi")):
            got = server.fetch(name, blksize=1456)
            assert got["sha256"] == digest(served_tree / rel), name
    log = (tmp_path / "dnsmasq.log").read_text()
    assert f"TFTP root is {served_tree.resolve()}" in log
    assert f"sent {served_tree.resolve() / WIM} to 127.0.0.1" in log


def test_dnsmasq_refuses_paths_outside_the_tree(served_tree: Path, tmp_path: Path) -> None:
    secret = served_tree.parent / "outside.txt"
    secret.write_text("not for clients")
    with (
        netns_dnsmasq(tmp_path, conf_file=served_tree / "conf/dnsmasq.conf") as server,
        pytest.raises(AssertionError, match="TFTP error"),
    ):
        server.fetch("../outside.txt")


def test_large_blocks_from_the_bcd_are_granted_by_the_generated_conf(
    tmp_path: Path, boot_wims: dict[str, Path]
) -> None:
    # dnsmasq grants at most 2263-byte blocks unless edns-packet-max is raised: the conf does it
    dest = tmp_path / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], block_size=8192, timestamp=1))
    assert "edns-packet-max=8192" in (dest / "conf/dnsmasq.conf").read_text()
    with netns_dnsmasq(tmp_path, conf_file=dest / "conf/dnsmasq.conf") as server:
        got = server.fetch("\\Boot\\x64\\Images\\boot.wim", blksize=8192)
    assert got["oack"] == {"blksize": "8192"}
    assert got["sha256"] == digest(dest / WIM)
