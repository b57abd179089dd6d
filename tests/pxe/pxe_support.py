"""PXE test support: a small boot.wim with real stand-in boot programs, and real servers (dnsmasq,
nginx, in.tftpd) in network namespaces the test creates, joined to a client namespace by a veth pair."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
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


def netboot_wim(tmp_path_factory: pytest.TempPathFactory, name: str, marker: str) -> Path:
    """A boot.wim for the QEMU netboot tests (make_boot_wim), once QEMU and namespaces are there."""
    from pebuild.qemu.netboot import available

    require_tool("qemu-system-x86_64")
    why = available()
    if why is not None:
        pytest.skip(f"PXE through dnsmasq needs a private network namespace: {why}")
    return make_boot_wim(tmp_path_factory.mktemp(name) / "boot.wim", "amd64", marker=marker)


def world_dir(prefix: str) -> Path:
    """A fresh 0755 directory under /tmp that `nobody` can enter: dnsmasq, nginx and in.tftpd drop
    root as on a real server, and pytest's tmp_path (0700) is out of their reach. Caller removes it."""
    path = Path(tempfile.mkdtemp(prefix=f"pebuild-{prefix}-", dir="/tmp"))
    os.chmod(path, 0o755)
    return path


SERVER_IP = "10.77.0.1"
CLIENT_IP = "10.77.0.50"
_LABS = itertools.count()


def _ip() -> str:
    return shutil.which("ip") or "/usr/sbin/ip"


class Lab:
    """Two network namespaces made by the test, joined by a veth pair with a real Ethernet MTU:
    the server side (veth0, SERVER_IP/24) and the client side (veth1, CLIENT_IP/24)."""

    def __init__(self, name: str, mtu: int) -> None:
        self.server_ns, self.client_ns, self.mtu = f"{name}-s", f"{name}-c", mtu
        self.procs: list[subprocess.Popen[bytes]] = []

    def server_cmd(self, argv: list[str]) -> list[str]:
        return [_ip(), "netns", "exec", self.server_ns, *argv]

    def client(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `argv` in the client namespace (bounded)."""
        return subprocess.run([_ip(), "netns", "exec", self.client_ns, *argv], capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    def server(self, argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.server_cmd(argv), capture_output=True, text=True, timeout=timeout)

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start a server process in the server namespace, in its own process group (stopped on exit)."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.server_cmd(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def wait_until(
        self, ready: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], log: Path
    ) -> None:
        """Wait (10 s at most) for `ready`; a server that exits or never gets ready FAILS the test."""
        deadline = time.monotonic() + 10
        while not ready():
            if proc.poll() is not None:
                tail = log.read_text("utf-8", "replace")[-600:] if log.exists() else ""
                pytest.fail(f"{what} did not start (exit code {proc.returncode}): {tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not get ready within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=5)


def _must(*argv: str) -> None:
    proc = subprocess.run([_ip(), *argv], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise AssertionError(f"ip {' '.join(argv)}: {proc.stderr.strip()}")


@contextlib.contextmanager
def veth_lab(mtu: int = 1500) -> Iterator[Lab]:
    """A Lab (see there); its processes, namespaces and links are removed on every way out."""
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces joined by a veth pair, servers that drop root")
    require_tool("ip")
    lab = Lab(f"pbt{os.getpid()}-{next(_LABS)}", mtu)
    made: list[str] = []
    try:
        for ns in (lab.server_ns, lab.client_ns):
            _must("netns", "add", ns)
            made.append(ns)
            _must("-n", ns, "link", "set", "lo", "up")
        _must("-n", lab.server_ns, "link", "add", "veth0", "mtu", str(mtu), "type", "veth",
              "peer", "name", "veth1", "mtu", str(mtu), "netns", lab.client_ns)  # fmt: skip
        for ns, dev, addr in ((lab.server_ns, "veth0", SERVER_IP), (lab.client_ns, "veth1", CLIENT_IP)):
            _must("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _must("-n", ns, "link", "set", dev, "up")
        yield lab
    finally:
        lab.stop()
        for ns in reversed(made):
            subprocess.run([_ip(), "netns", "del", ns], capture_output=True, timeout=20)


def link_mtu(lab: Lab) -> int:
    """The server interface's MTU as the kernel reports it (what dnsmasq reads with SIOCGIFMTU)."""
    return int(lab.server(["cat", "/sys/class/net/veth0/mtu"]).stdout)


class Dnsmasq:
    """A dnsmasq in the lab's server namespace; TFTP and DHCP clients run in the client namespace."""

    def __init__(self, lab: Lab, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.lab, self.proc, self.log = lab, proc, log

    def user(self) -> str:
        """Who the running dnsmasq is (it drops root for `nobody` unless told otherwise)."""
        uid = next(line for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
                   if line.startswith("Uid:")).split()[1]  # fmt: skip
        return pwd.getpwuid(int(uid)).pw_name

    def fetch(self, filename: str, *, out: Path | None = None, **options: int) -> dict[str, object]:
        return tftp_fetch(self.lab, filename, out=out, **options)

    def discover(
        self, client_arch: int, *, ipxe: bool = False, boot_server: bool = False
    ) -> dict[str, object]:
        argv = [sys.executable, str(DHCP_CLIENT), "veth1", str(client_arch)]
        argv += ["ipxe"] if ipxe else []
        argv += ["--boot-server", SERVER_IP] if boot_server else []
        proc = self.lab.client(argv, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return dict(json.loads(proc.stdout))


def tftp_fetch(lab: Lab, filename: str, *, out: Path | None = None, **options: int) -> dict[str, object]:
    """Fetch `filename` from SERVER_IP:69 with the test client, from the client namespace."""
    argv = [sys.executable, str(TFTP_CLIENT), SERVER_IP, "69", filename]
    argv += [f"--option={k}={v}" for k, v in options.items()]
    argv += ["--out", str(out)] if out is not None else []
    proc = lab.client(argv)
    if proc.returncode != 0:
        raise AssertionError(f"TFTP fetch of {filename} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return dict(json.loads(proc.stdout))


@contextlib.contextmanager
def lab_dnsmasq(
    lab: Lab, workdir: Path, conf_file: Path, *, ready: str = "TFTP root is"
) -> Iterator[Dnsmasq]:
    """dnsmasq as docs/pxe.md and the generated file's header start it
    (`dnsmasq --keep-in-foreground --conf-file=CONF`), dropping root for nobody; only log, lease
    and pid files are added on the command line. A start-up failure fails the test."""
    require_tool("dnsmasq")
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    log = workdir / "dnsmasq.log"
    argv = [dnsmasq, "--keep-in-foreground", f"--conf-file={conf_file}", "--pid-file=",
            f"--log-facility={log}", f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}"]  # fmt: skip
    proc = lab.start(argv, workdir / "dnsmasq.out")
    lab.wait_until(lambda: log.exists() and ready in log.read_text("utf-8", "replace"), "dnsmasq", proc,
                   workdir / "dnsmasq.out" if not log.exists() else log)  # fmt: skip
    yield Dnsmasq(lab, proc, log)


@contextlib.contextmanager
def netns_dnsmasq(
    workdir: Path, *, conf_file: Path | None = None, tftp_root: Path | None = None, mtu: int = 1500
) -> Iterator[Dnsmasq]:
    """A veth lab at `mtu` with dnsmasq from `conf_file`, or a bare TFTP server of `tftp_root`."""
    if conf_file is None:
        assert tftp_root is not None
        conf_file = workdir / "tftp-only.conf"
        conf_file.write_text(
            f"port=0\nenable-tftp\ntftp-root={tftp_root}\ninterface=veth0\nbind-interfaces\n"
        )
    with veth_lab(mtu) as lab, lab_dnsmasq(lab, workdir, conf_file) as server:
        yield server


DHCP_CLIENT = HERE / "_dhcp_client.py"


@contextlib.contextmanager
def netns_dhcp(workdir: Path, conf_file: Path) -> Iterator[Dnsmasq]:
    """dnsmasq from `conf_file` (written with interface veth0) serving DHCP on the lab's veth pair."""
    with veth_lab() as lab, lab_dnsmasq(lab, workdir, conf_file, ready="DHCP, ") as server:
        yield server
