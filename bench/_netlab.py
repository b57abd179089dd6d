"""A private network for the PXE scale bench: one server, a switch, client hosts, all in namespaces.

Topology (every address exists only inside namespaces made here; nothing reaches a real network):

    server ns: vsrv 10.213.0.1/16 --veth-- switch ns: bridge br0 --veth-- client ns k: eth0 10.213.1.k

The switch is a Linux bridge with IGMP snooping off (a flat L2 segment). `rate_mbit` puts a token
bucket (tc tbf) on the server's egress, i.e. a server NIC of that speed; without it the veth is a
memory copy, not a wire. Each namespace is held by an `unshare --net sleep` whose parent-death
signal is SIGKILL, so a crashed bench leaves no namespace behind; servers run in process groups of
their own and are killed on exit. The servers are started from the PXE tree's own generated
configuration (conf/dnsmasq.conf, conf/nginx.conf) so the bench measures what users get.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SERVER_IP = "10.213.0.1"
PREFIX = 16
SERVER_IF = "vsrv"
CLIENT_IF = "eth0"
_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def client_ip(k: int) -> str:
    return f"10.213.{1 + k // 200}.{10 + k % 200}"


def tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def missing_tools(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if tool(name) is None]


def cannot_run(bench: str, names: tuple[str, ...]) -> str | None:
    """Why `bench` cannot run here (a missing tool, not root), or None: one line for stderr."""
    missing = missing_tools(names)
    if missing:
        return f"{bench}: not installed: {', '.join(missing)} (make setup)"
    if os.geteuid() != 0:
        return f"{bench}: needs root (network namespaces joined by veth pairs)"
    return None


def _die_with_parent() -> None:
    """preexec: SIGKILL this child when the bench dies (prctl PR_SET_PDEATHSIG survives exec)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Namespace:
    """A network namespace held open by a sleeping process; `enter` prefixes a command to run in it."""

    name: str
    holder: subprocess.Popen[bytes]

    @property
    def path(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def enter(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    def sh(self, script: str, timeout: float = 30) -> str:
        proc = subprocess.run([*self.enter(), "sh", "-ec", script], capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{self.name}: `{script.strip()}` failed: {proc.stderr.strip()}")
        return proc.stdout


def _new_namespace(name: str) -> Namespace:
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "86400"], preexec_fn=_die_with_parent,
                              stdin=subprocess.DEVNULL)  # fmt: skip
    own = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                return Namespace(name, holder)
        if holder.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"could not create network namespace {name} (unshare --net: need root)")
        time.sleep(0.01)


@dataclass
class Lab:
    """The namespaces of one bench run; `clients[k]` is client host k (address `client_ip(k)`)."""

    server: Namespace
    switch: Namespace
    clients: list[Namespace] = field(default_factory=list)
    rate_mbit: int | None = None


@contextlib.contextmanager
def lab(hosts: int = 1, *, rate_mbit: int | None = None) -> Iterator[Lab]:
    """Create the server, the switch and `hosts` client namespaces; all are removed on exit."""
    made: list[Namespace] = []
    clients: list[Namespace] = []  # add_client appends here first, so a half-made client is removed too
    try:
        server = _new_namespace("server")
        made.append(server)
        switch = _new_namespace("switch")
        made.append(switch)
        switch.sh("ip link set lo up; ip link add br0 type bridge mcast_snooping 0; ip link set br0 up")
        switch.sh(f"ip link add vsw0 type veth peer name {SERVER_IF} netns {server.holder.pid}\n"
                  "ip link set vsw0 master br0 up")  # fmt: skip
        server.sh(f"ip link set lo up; ip addr add {SERVER_IP}/{PREFIX} dev {SERVER_IF}\n"
                  f"ip link set {SERVER_IF} up; ip route add 224.0.0.0/4 dev {SERVER_IF}")  # fmt: skip
        if rate_mbit:
            # a server NIC of rate_mbit: tbf with a burst of ~1 ms at that rate (at least 64 KiB)
            burst = max(65536, rate_mbit * 1000 // 8)
            server.sh(
                f"tc qdisc add dev {SERVER_IF} root tbf rate {rate_mbit}mbit burst {burst} latency 20ms"
            )
        the_lab = Lab(server, switch, clients, rate_mbit=rate_mbit)
        for _ in range(hosts):
            add_client(the_lab)
        yield the_lab
    finally:
        for ns in [*reversed(clients), *reversed(made)]:
            ns.holder.kill()
            ns.holder.wait(timeout=10)


def add_client(the_lab: Lab) -> Namespace:
    k = len(the_lab.clients)
    ns = _new_namespace(f"client{k}")
    the_lab.clients.append(ns)
    the_lab.switch.sh(f"ip link add vsw{k + 1} type veth peer name {CLIENT_IF} netns {ns.holder.pid}\n"
                      f"ip link set vsw{k + 1} master br0 up")  # fmt: skip
    ns.sh(f"ip link set lo up; ip addr add {client_ip(k)}/{PREFIX} dev {CLIENT_IF}\n"
          f"ip link set {CLIENT_IF} up; ip route add 224.0.0.0/4 dev {CLIENT_IF}")  # fmt: skip
    return ns


# ---- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    """A server process group in the server namespace; `cpu_seconds` sums user+system of the group."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == self.proc.pid:  # pgrp: the group start_new_session made
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / _CLK_TCK

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _wait_listening(ns: Namespace, server: Server, proto: str, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    flag = "-Hlun" if proto == "udp" else "-Hltn"
    while True:
        if server.proc.poll() is not None:
            detail = server.log.read_text()[-400:] if server.log.exists() else ""
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}: {detail}")
        listening = ns.sh(f"ss {flag} 'sport = :{port}'").split()
        if any(word in listening for word in (f"{SERVER_IP}:{port}", f"0.0.0.0:{port}", f"*:{port}")):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not listen on {proto} port {port} within {timeout:.0f} s")
        time.sleep(0.05)


@contextlib.contextmanager
def serve(the_lab: Lab, name: str, argv: list[str], log: Path, proto: str, port: int) -> Iterator[Server]:
    """Run `argv` in the server namespace in a process group of its own until it listens; stop it on exit."""
    proc = subprocess.Popen([*the_lab.server.enter(), *argv], start_new_session=True,
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    server = Server(name, proc, log)
    try:
        _wait_listening(the_lab.server, server, proto, port)
        yield server
    finally:
        server.stop()


def dnsmasq(the_lab: Lab, conf: Path, work: Path, *, prefix: tuple[str, ...] = (), log_name: str = "dnsmasq.log"
            ) -> contextlib.AbstractContextManager[Server]:  # fmt: skip
    """dnsmasq from the tree's conf as docs/pxe.md and the file's header run it
    (`dnsmasq --keep-in-foreground --conf-file=CONF`); added: log, pid and lease paths only. No
    --user: it drops root for nobody as on a real server, so the tree (pebuild writes 0755/0644) and
    every directory above it must be world-readable. `prefix` wraps the command (e.g. prlimit)."""
    log = work / log_name
    argv = [*prefix, tool("dnsmasq") or "dnsmasq", "--keep-in-foreground", f"--conf-file={conf}", "--pid-file=",
            f"--log-facility={log}", f"--dhcp-leasefile={work / 'dnsmasq.leases'}"]  # fmt: skip
    return serve(the_lab, "dnsmasq", argv, log, "udp", 69)


NGINX_MAIN = """# nginx main configuration of the PXE benches: paths, the workers' user (nobody, as
# pebuild.qemu.netboot's wrapper) and limits; the server block is the tree's own.
daemon off;
master_process on;
user nobody nogroup;
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    include {server_block};
}}
"""


def nginx(the_lab: Lab, server_block: Path, work: Path) -> contextlib.AbstractContextManager[Server]:
    """nginx with the tree's generated server block (conf/nginx.conf) included from a minimal http {};
    its workers run as nobody."""
    main = work / "nginx-main.conf"
    main.write_text(NGINX_MAIN.format(work=work, server_block=server_block))
    argv = [tool("nginx") or "nginx", "-p", str(work), "-c", str(main)]
    return serve(the_lab, "nginx", argv, work / "nginx-error.log", "tcp", 80)


# ---- a swarm of clients ------------------------------------------------------------------------


@dataclass
class ClientRun:
    """One client process: wall time from its own start, exit status, its stdout, its CPU."""

    start: float
    end: float
    returncode: int
    timed_out: bool
    stdout: str
    cpu_seconds: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def swarm(ns: Namespace, argvs: list[list[str]], out_dir: Path, deadline_s: float) -> list[ClientRun]:
    """Start every argv in `ns` at once (posix_spawn, no shell); kill what is still running at the deadline.

    Each client's end time is taken by a thread blocked in wait4, so timing costs no polling CPU.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    enter = ns.enter()
    nsenter = tool("nsenter") or "nsenter"
    pids: list[int] = []
    starts: list[float] = []
    ends: dict[int, tuple[float, int, float]] = {}
    lock = threading.Lock()

    def reap(pid: int) -> None:
        _, status, usage = os.wait4(pid, 0)
        now = time.monotonic()
        with lock:
            ends[pid] = (now, status, usage.ru_utime + usage.ru_stime)

    threads = []
    for i, argv in enumerate(argvs):
        out = os.open(out_dir / f"client-{i}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2),
                       (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]  # fmt: skip
            starts.append(time.monotonic())
            pid = os.posix_spawn(nsenter, [*enter, *argv], os.environ, file_actions=actions)
        finally:
            os.close(out)
        pids.append(pid)
        thread = threading.Thread(target=reap, args=(pid,), daemon=True)
        thread.start()
        threads.append(thread)
    killed: set[int] = set()
    deadline = min(starts) + deadline_s if starts else time.monotonic()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for pid, thread in zip(pids, threads, strict=True):
        if thread.is_alive():
            killed.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for thread in threads:
        thread.join(10)
    runs = []
    for i, (pid, start) in enumerate(zip(pids, starts, strict=True)):
        end, status, cpu = ends[pid]
        code = os.waitstatus_to_exitcode(status)
        text = (out_dir / f"client-{i}.out").read_text(errors="replace")
        runs.append(ClientRun(start, end, code, pid in killed, text, cpu))
    return runs
