"""PXE test support: a small boot.wim with real stand-in boot programs, and dnsmasq in a network namespace."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _helpers import require_tool

HERE = Path(__file__).resolve().parent
TFTP_CLIENT = HERE / "_tftp_client.py"

#: WIM path -> marker program kind; markers follow the sample kit's convention (PEBUILD-SAMPLE <name>)
BOOT_PROGRAMS = {
    "Windows/Boot/PXE/pxeboot.n12": "pxeboot",
    "Windows/Boot/PXE/pxeboot.com": "pxeboot",
    "Windows/Boot/PXE/bootmgr.exe": "bootmgr",
    "Windows/Boot/PXE/abortpxe.com": "bios",
    "Windows/Boot/PXE/wdsnbp.com": "bios",
    "Windows/Boot/EFI/bootmgfw.efi": "efi",
}


def make_boot_wim(
    dest: Path, arch: str, *, omit: tuple[str, ...] = (), marker: str = "PEBUILD-SAMPLE"
) -> Path:
    """A one-image boot.wim whose Windows/Boot holds marker programs, a font and a boot.sdi."""
    from pebuild.sample.stubs import bios_program
    from pebuild.sample.stubs.pxe import bootmgfw_program, bootmgr_exe_program, pxeboot_program
    from pebuild.wim import capture

    tree = dest.parent / f"{dest.stem}-tree"
    for rel, kind in BOOT_PROGRAMS.items():
        if rel in omit:
            continue
        name = rel.rsplit("/", 1)[1]
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "bios":
            path.write_bytes(bios_program(f"{marker} {name}"))
        elif kind == "pxeboot":
            path.write_bytes(pxeboot_program(f"{marker} {name}"))
        elif kind == "bootmgr":
            path.write_bytes(bootmgr_exe_program(f"{marker} {name}"))
        else:
            efi_arch = arch if arch in ("amd64", "x86") else "amd64"
            path.write_bytes(bootmgfw_program(f"{marker} {name}", arch=efi_arch))
    extra = {
        "Windows/Boot/Fonts/wgl4_boot.ttf": b"font:wgl4\n",
        "Windows/Boot/Fonts/segmono_boot.ttf": b"font:segmono\n",
        "Windows/Boot/DVD/PCAT/boot.sdi": b"$SDI0001" + bytes(4096 - 8),
        "Windows/System32/startnet.cmd": b"wpeinit\r\n",
        # incompressible filler so boot.wim spans a few hundred TFTP blocks
        "Windows/System32/filler.bin": b"".join(
            hashlib.sha256(f"{arch}-{i}".encode()).digest() for i in range(6000)
        ),
    }
    for rel, data in extra.items():
        if rel in omit:
            continue
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    capture(tree, dest, name="Microsoft Windows PE", boot=True)
    shutil.rmtree(tree)
    return dest


def _netns_cmd() -> tuple[list[str], Callable[[int], list[str]]]:
    require_tool("dnsmasq")
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} not installed (util-linux / iproute2)")
    if os.geteuid() == 0:
        return ["unshare", "--net", "--"], lambda pid: ["nsenter", f"--net=/proc/{pid}/ns/net", "--"]
    return (
        ["unshare", "--map-root-user", "--net", "--"],
        lambda pid: ["nsenter", "-t", str(pid), "--user", "--net", "--preserve-credentials", "--"],
    )


class NetnsDnsmasq:
    """dnsmasq serving TFTP on 127.0.0.1:69 inside a network namespace of its own (nothing leaves it)."""

    def __init__(self, proc: subprocess.Popen[bytes], enter: list[str], log: Path) -> None:
        self.proc = proc
        self.enter = enter
        self.log = log

    def run(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.enter, *argv], capture_output=True, text=True, timeout=timeout)

    def fetch(self, filename: str, *, out: Path | None = None, **options: int) -> dict[str, object]:
        argv = [sys.executable, str(TFTP_CLIENT), "127.0.0.1", "69", filename]
        argv += [f"--option={k}={v}" for k, v in options.items()]
        if out is not None:
            argv += ["--out", str(out)]
        proc = self.run(argv)
        if proc.returncode != 0:
            raise AssertionError(f"TFTP fetch of {filename} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return dict(json.loads(proc.stdout))


@contextlib.contextmanager
def netns_dnsmasq(
    workdir: Path, *, tftp_root: Path | None = None, conf_file: Path | None = None, user: str = "root"
) -> Iterator[NetnsDnsmasq]:
    """Start dnsmasq (--port=0: no DNS) in a fresh netns, from `conf_file` or as a bare TFTP server of
    `tftp_root`, listening on 127.0.0.1 only, running as `user`; always killed on exit."""
    unshare, enter_for = _netns_cmd()
    log = workdir / "dnsmasq.log"
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    args = [
        dnsmasq,
        "--keep-in-foreground",
        "--port=0",
        "--enable-tftp",
        *([f"--tftp-root={tftp_root}"] if tftp_root else []),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        f"--conf-file={conf_file or '/dev/null'}",
        "--pid-file=",
        f"--user={user}",
        f"--log-facility={log}",
    ]
    script = 'ip link set lo up && exec "$@"'
    proc = subprocess.Popen([*unshare, "sh", "-c", script, "sh", *args], start_new_session=True)
    try:
        ready = NetnsDnsmasq(proc, enter_for(proc.pid), log)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                detail = log.read_text() if log.exists() else ""
                pytest.skip(
                    f"dnsmasq in a network namespace did not start (rc {proc.returncode}): {detail[-300:]}"
                )
            probe = ready.run(["ss", "-Hlun", "sport = :69"], timeout=10)
            if probe.returncode == 0 and "127.0.0.1:69" in probe.stdout:
                break
            if time.monotonic() > deadline:
                raise AssertionError("dnsmasq did not listen on 127.0.0.1:69 within 10 s")
            time.sleep(0.05)
        yield ready
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


DHCP_CLIENT = HERE / "_dhcp_client.py"
SERVER_IP = "10.77.0.1"
CLIENT_IP = "10.77.0.50"

_DHCP_NETNS_SCRIPT = """
set -e
ip link set lo up
ip link add veth0 type veth peer name veth1
ip addr add {server}/24 dev veth0
ip link set veth0 up
unshare --net sleep 300 &
client=$!
while [ "$(readlink /proc/$client/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.02; done
ip link set veth1 netns $client
nsenter --net=/proc/$client/ns/net sh -c 'ip link set lo up; ip addr add {client}/24 dev veth1; ip link set veth1 up'
echo $client > "$1"
shift
exec "$@"
"""


class NetnsDhcp:
    """dnsmasq on veth0 (10.77.0.1) in a private netns; clients in a second netns behind veth1."""

    def __init__(self, client_pid: int) -> None:
        self.client_pid = client_pid

    def discover(
        self, client_arch: int, *, ipxe: bool = False, boot_server: bool = False
    ) -> dict[str, object]:
        argv = ["nsenter", f"--net=/proc/{self.client_pid}/ns/net", "--", sys.executable, str(DHCP_CLIENT),
                "veth1", str(client_arch)]  # fmt: skip
        if ipxe:
            argv.append("ipxe")
        if boot_server:
            argv += ["--boot-server", SERVER_IP]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))


@contextlib.contextmanager
def netns_dhcp(workdir: Path, conf_file: Path) -> Iterator[NetnsDhcp]:
    """dnsmasq from `conf_file` serving DHCP on a veth pair that exists only in namespaces made here."""
    if os.geteuid() != 0:
        pytest.skip("DHCP over a veth pair needs root (network namespaces with a veth pair)")
    _netns_cmd()
    log = workdir / "dnsmasq-dhcp.log"
    pidfile = workdir / "client.pid"
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    args = [dnsmasq, "--keep-in-foreground", f"--conf-file={conf_file}", "--interface=veth0",
            "--bind-interfaces", "--no-ping", "--pid-file=", "--user=root", f"--log-facility={log}",
            f"--dhcp-leasefile={workdir / 'leases'}"]  # fmt: skip
    script = _DHCP_NETNS_SCRIPT.format(server=SERVER_IP, client=CLIENT_IP)
    proc = subprocess.Popen(["unshare", "--net", "--", "sh", "-c", script, "sh", str(pidfile), *args],
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not (log.exists() and "DHCP, " in log.read_text()):
            if proc.poll() is not None:
                raise AssertionError(f"dnsmasq (DHCP) exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError("dnsmasq (DHCP) did not start within 10 s")
            time.sleep(0.05)
        yield NetnsDhcp(int(pidfile.read_text()))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)
