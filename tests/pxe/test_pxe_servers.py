"""The other servers of docs/pxe.md, run for real with the files pebuild generates, in the veth lab
(two namespaces the test creates, MTU 1500): in.tftpd (tftpd-hpa) with conf/tftpd-hpa.remap, and
nginx with conf/nginx.conf (the wrapper `pebuild smoke --pxe` uses), `nginx -t` plus downloads."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from pxe_support import SERVER_IP, tftp_fetch, veth_lab

from _helpers import SHARED_DIR, require_tool
from pebuild.pxe import PxeRequest, write_pxe_tree
from pebuild.qemu import netboot

WIMBOOT = SHARED_DIR / "fixtures" / "wimboot" / "wimboot"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_in_tftpd_serves_backslash_paths_with_the_generated_remap(
    world: Path, tmp_path: Path, boot_wims: dict[str, Path]
) -> None:
    tftpd = require_tool("in.tftpd")
    dest = world / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], dhcp_range="10.77.0.0", timestamp=1))
    remap = dest / "conf/tftpd-hpa.remap"
    # the command the remap file's own "Use:" line gives, plus foreground/address for the test
    use = next(line for line in remap.read_text().splitlines() if line.startswith("# Use: in.tftpd "))
    assert use.endswith(f"--map-file {remap} {dest}")
    with veth_lab() as lab:
        proc = lab.start([tftpd, "--foreground", "--address", f"{SERVER_IP}:69", *use.split()[3:]],
                         tmp_path / "tftpd.out")  # fmt: skip
        lab.wait_until(lambda: ":69" in lab.server(["ss", "-Hlun", "sport = :69"]).stdout, "in.tftpd", proc,
                       tmp_path / "tftpd.out")  # fmt: skip
        for name, rel in (("\\Boot\\x64\\pxeboot.n12", "Boot/x64/pxeboot.n12"), ("\\Boot\\BCD", "Boot/BCD"),
                          ("\\Boot\\x64\\Images\\boot.wim", "Boot/x64/Images/boot.wim")):  # fmt: skip
            got = tftp_fetch(lab, name, blksize=1456, tsize=0)
            data = (dest / rel).read_bytes()
            assert got["sha256"] == sha(data) and got["oack"] == {"blksize": "1456", "tsize": str(len(data))}
        # file names stay case-sensitive (the tree and its BCDs use one case): a wrong case is not found
        with pytest.raises(AssertionError, match="TFTP error"):
            tftp_fetch(lab, "\\boot\\X64\\PXEBOOT.N12")
    # without the remap the same request fails: the rule is what makes it work
    with veth_lab() as lab:
        proc = lab.start([tftpd, "--foreground", "--address", f"{SERVER_IP}:69", "--listen", "--secure", str(dest)],
                         tmp_path / "tftpd-plain.out")  # fmt: skip
        lab.wait_until(lambda: ":69" in lab.server(["ss", "-Hlun", "sport = :69"]).stdout, "in.tftpd", proc,
                       tmp_path / "tftpd-plain.out")  # fmt: skip
        with pytest.raises(AssertionError, match="TFTP error"):
            tftp_fetch(lab, "\\Boot\\x64\\pxeboot.n12")


def test_nginx_serves_the_tree_with_the_generated_server_block(
    world: Path, tmp_path: Path, boot_wims: dict[str, Path]
) -> None:
    nginx = require_tool("nginx")
    curl = require_tool("curl")
    dest = world / "pxe"
    write_pxe_tree(PxeRequest(dest=dest, boot_wim=boot_wims["amd64"], wimboot=WIMBOOT, dhcp_range="10.77.0.0",
                              http_url=f"http://{SERVER_IP}/", timestamp=1))  # fmt: skip
    assert (dest / "wimboot").read_bytes() == WIMBOOT.read_bytes()  # the real wimboot, not a placeholder
    with veth_lab() as lab:
        procs = netboot._Procs()
        try:
            assert netboot._start_http(dest, lab.server_ns, tmp_path, procs) == "nginx"
            test = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True,
                                  text=True, timeout=30)  # fmt: skip
            assert test.returncode == 0 and "test is successful" in test.stderr, test.stderr
            for rel in ("boot.ipxe", "wimboot", "Boot/x64/BCD.wimboot", "Boot/x64/boot.sdi",
                        "Boot/x64/Images/boot.wim"):  # fmt: skip
                out = tmp_path / "download"
                got = lab.client(
                    [curl, "-sS", "-o", str(out), "-w", "%{http_code}", f"http://{SERVER_IP}/{rel}"]
                )
                assert got.stdout == "200", (rel, got.stdout, got.stderr)
                assert sha(out.read_bytes()) == sha((dest / rel).read_bytes()), rel
            denied = lab.client([curl, "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 f"http://{SERVER_IP}/conf/dnsmasq.conf"])  # fmt: skip
            assert denied.stdout == "403"
        finally:
            procs.close()
