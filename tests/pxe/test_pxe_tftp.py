"""A real dnsmasq, started from the generated dnsmasq.conf as docs/pxe.md starts it (dropping root for
nobody), serves the tree over a veth pair with a real Ethernet MTU between two namespaces the test
creates; atftp and a minimal RFC 1350/2347/7440 client fetch boot.wim from the client side.

Why not loopback: its MTU is 65536, and dnsmasq caps the granted blksize at the receiving
interface's MTU minus 32 (IPv4: 20 IP + 8 UDP + 4 TFTP header bytes; dnsmasq src/tftp.c), so a
block size granted there says nothing about an Ethernet network.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pxe_support import SERVER_IP, link_mtu, netns_dnsmasq, world_dir
from test_pxe_tree import elements, export_bcd, qword

from _helpers import require_tool
from pebuild.pxe import PxeRequest, write_pxe_tree

WIM = "Boot/x64/Images/boot.wim"


@pytest.fixture(scope="module")
def served_tree(boot_wims: dict[str, Path]) -> Iterator[Path]:
    base = world_dir("tftp")
    dest = base / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], dhcp_range="10.77.0.0", interface="veth0",
                              timestamp=1))  # fmt: skip
    yield dest
    shutil.rmtree(base, ignore_errors=True)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bcd_block_size(tree: Path) -> int:
    """The blksize the boot managers ask for: ramdisktftpblocksize (35000007) of every store a TFTP
    client can load (BIOS and UEFI stores, \\Boot\\BCD, \\EFI\\Microsoft\\Boot\\BCD), read with hivex;
    they must all agree, so one grant check covers each firmware's boot manager."""
    stores = [p for p in (tree / "Boot/x64/BCD", tree / "Boot/x64/BCD.efi", tree / "Boot/BCD",
                          tree / "EFI/Microsoft/Boot/BCD") if p.is_file()]  # fmt: skip
    assert len(stores) == 4, stores
    values = {store.name: {qword(v) for v in elements(export_bcd(store), "35000007")} for store in stores}
    (value,) = set().union(*values.values())
    assert all(len(found) == 1 for found in values.values()), values  # every store has the element
    return value


def test_dnsmasq_grants_the_bcd_block_size_on_a_1500_byte_link(served_tree: Path, tmp_path: Path) -> None:
    atftp = require_tool("atftp")
    asked = bcd_block_size(served_tree)
    assert asked == 1456  # the preset: at most 1500 - 32 = 1468, which dnsmasq grants on Ethernet
    size = (served_tree / WIM).stat().st_size
    assert size > 100 * asked  # many blocks
    with netns_dnsmasq(tmp_path, conf_file=served_tree / "conf/dnsmasq.conf") as server:
        assert link_mtu(server.lab) == 1500
        assert server.user() == "nobody"  # dropped root as the documented command does
        # atftp asks for blksize and windowsize as bootmgr does (BCD 35000007/35000008), Windows-style path
        out = tmp_path / "atftp.wim"
        proc = server.lab.client(
            [atftp, "--option", f"blksize {asked}", "--option", "windowsize 4", "-g",
             "-r", "\\Boot\\x64\\Images\\boot.wim", "-l", str(out), SERVER_IP, "69"]
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert digest(out) == digest(served_tree / WIM)

        # the OACK over the 1500-byte link: the BCD's blksize granted unchanged, tsize; windowsize
        # (RFC 7440) is not implemented by dnsmasq 2.90, so it is left out and the transfer is lock-step
        tuned = server.fetch("\\Boot\\x64\\Images\\boot.wim", blksize=asked, windowsize=4, tsize=0)
        assert tuned["oack"] == {"blksize": str(asked), "tsize": str(size)}
        assert tuned["sha256"] == digest(served_tree / WIM)
        assert tuned["blocks"] == size // asked + 1

        # what the many guides' 8192 gets on Ethernet: cut to MTU - 32
        big = server.fetch("\\Boot\\x64\\Images\\boot.wim", blksize=8192)
        assert big["oack"] == {"blksize": "1468"} and big["sha256"] == digest(served_tree / WIM)

        plain = server.fetch("Boot/x64/Images/boot.wim")
        assert plain["oack"] == {} and plain["blocks"] == size // 512 + 1
        assert plain["sha256"] == digest(served_tree / WIM)

        # the files the boot managers ask for next, by their Windows names
        for name, rel in (("\\Boot\\BCD", "Boot/BCD"), ("\\Boot\\x64\\boot.sdi", "Boot/x64/boot.sdi")):
            got = server.fetch(name, blksize=asked)
            assert got["sha256"] == digest(served_tree / rel), name
    log = (tmp_path / "dnsmasq.log").read_text()
    assert f"TFTP root is {served_tree.resolve()}" in log
    assert f"sent {served_tree.resolve() / WIM} to 10.77.0.50" in log


def test_dnsmasq_refuses_paths_outside_the_tree(served_tree: Path, tmp_path: Path) -> None:
    secret = served_tree.parent / "outside.txt"
    secret.write_text("not for clients")
    with (
        netns_dnsmasq(tmp_path, conf_file=served_tree / "conf/dnsmasq.conf") as server,
        pytest.raises(AssertionError, match="TFTP error"),
    ):
        server.fetch("../outside.txt")


@pytest.mark.parametrize("mtu, granted", [(9000, 8192), (1500, 1468)])
def test_large_blocks_from_the_bcd_need_jumbo_frames(
    tmp_path: Path, boot_wims: dict[str, Path], mtu: int, granted: int
) -> None:
    """--block-size 8192: the conf raises dnsmasq's packet buffer (edns-packet-max, else 2263 at most),
    so on a 9000-byte jumbo-frame link 8192 is granted; on Ethernet it is still cut to 1468."""
    base = world_dir("tftp-big")
    try:
        dest = base / "pxe"
        write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], block_size=8192, interface="veth0",
                                  dhcp_range="10.77.0.0", timestamp=1))  # fmt: skip
        assert bcd_block_size(dest) == 8192
        assert "edns-packet-max=8192" in (dest / "conf/dnsmasq.conf").read_text()
        with netns_dnsmasq(tmp_path, conf_file=dest / "conf/dnsmasq.conf", mtu=mtu) as server:
            assert link_mtu(server.lab) == mtu
            got = server.fetch("\\Boot\\x64\\Images\\boot.wim", blksize=8192)
        assert got["oack"] == {"blksize": str(granted)}
        assert got["sha256"] == digest(dest / WIM)
    finally:
        shutil.rmtree(base, ignore_errors=True)
