"""The PXE scale bench's pieces at N=2 with a tiny file: namespaces, dnsmasq and nginx from the tree's
generated configuration, concurrent clients, uftp to two receivers, and cleanup. No timing is asserted
(benchmarks measure; tests check that what is measured is real)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from _helpers import REPO_ROOT, require_tool

sys.path.insert(0, str(REPO_ROOT / "bench"))

import _netlab as netlab
import bench_pxe
import bench_pxe_scale as scale


@pytest.fixture
def work() -> Iterator[Path]:
    """A 0755 work directory: nginx's workers run as nobody and cannot enter pytest's 0700 tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("the scale bench needs root (CAP_NET_ADMIN: network namespaces with veth pairs)")
    for tool in ("unshare", "nsenter", "ip", "ss", "hivexregedit"):
        require_tool(tool)
    path = Path(tempfile.mkdtemp(prefix="test-pxe-scale-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _worker_users(master: int) -> set[str]:
    """The users of the processes whose parent is `master` (nginx's workers)."""
    users = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields["PPid"]) == master:
            users.add(pwd.getpwuid(int(fields["Uid"].split()[0])).pw_name)
    return users


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_two_clients_fetch_boot_wim_over_tftp_and_http_from_the_generated_config(work: Path) -> None:
    for tool in ("dnsmasq", "nginx", "atftp", "curl"):
        require_tool(tool)
    tree, wim, rel = scale.build_tree(work, 1)
    block, window = scale.bcd_tftp_options(tree / "Boot/x64/BCD")
    conf = (tree / "conf/dnsmasq.conf").read_text()
    assert f"interface={netlab.SERVER_IF}" in conf and "tftp-max=" in conf  # the tree's own config
    with contextlib.ExitStack() as stack:
        try:
            the_lab = stack.enter_context(netlab.lab(1))
        except RuntimeError as err:
            pytest.skip(f"network namespaces not available here: {err}")
        held = [the_lab.server.holder.pid, the_lab.switch.holder.pid, the_lab.clients[0].holder.pid]
        assert the_lab.clients[0].sh("ip -4 -o addr show dev eth0").split()[3] == "10.213.1.10/16"
        assert scale.oack_probe(the_lab, tree, block, window, work) == f"`blksize {block}`"
        with netlab.dnsmasq(the_lab, tree / "conf/dnsmasq.conf", work) as dnsmasq:
            assert bench_pxe.dnsmasq_user(dnsmasq.proc.pid) == "nobody"  # the documented command: no --user
            tftp = scale.run_clients(the_lab, dnsmasq, "TFTP", "veth", 2, tree, rel, block, window, 60, work)
        with netlab.nginx(the_lab, tree / "conf/nginx.conf", work) as nginx:
            assert _worker_users(nginx.proc.pid) == {"nobody"}  # workers dropped root, as netboot's nginx
            http = scale.run_clients(the_lab, nginx, "HTTP", "veth", 2, tree, rel, block, window, 60, work)
        servers = [dnsmasq.proc.pid, nginx.proc.pid]
    for res in (tftp, http):
        # client 0's copy matched the tree's boot.wim (sha256) and, for TFTP, dnsmasq logged one
        # completed transfer per client: a mismatch would be in the note and fail `ok`
        assert (res.ok, res.failures, res.timeouts, res.note) == (2, 0, 0, ""), res
        assert res.size == wim.stat().st_size and res.aggregate > 0 and len(res.times) == 2
        assert res.row().startswith(f"| {res.protocol} | veth | 2 | ")
    assert (work / "dnsmasq.log").read_text().count(f"sent {tree / rel} to 10.213.1.10") == 2
    assert tftp.server_cpu > 0  # dnsmasq's own CPU was read from /proc
    assert all(_gone(pid) for pid in held + servers)  # namespaces and servers are gone


def test_uftp_sends_a_file_to_two_receivers_in_their_own_namespaces(work: Path) -> None:
    for tool in ("uftp", "uftpd"):
        require_tool(tool)
    args = scale.parse_args(["--quick", "--uftp-receivers", "2", "--uftp-mb", "2", "--uftp-link-mbit", "0"])
    try:
        res = scale.uftp_run(args, work)
    except RuntimeError as err:
        pytest.skip(f"network namespaces not available here: {err}")
    assert res is not None
    assert (res.receivers, res.complete, res.verified) == (2, 2, 2), res
    assert res.summary.startswith("2 receivers completed"), res.summary
    assert "uftp -I vsrv" in res.commands[0] and "uftpd -d" in res.commands[1]
    assert not list(work.glob("uftp-recv-*")) and not (work / "install.wim").exists()  # cleaned up
