"""PXE smoke boots through the real server: dnsmasq with the tree's own configuration, in a network
namespace of its own, with QEMU's NIC on a tap device there (issue 13).

QEMU's built-in TFTP (slirp) cannot serve the backslash paths Microsoft's loaders request, and a
test of slirp proves nothing about the configuration a real server hands out. So:

* a private namespace `pbnb<pid>-<n>` holds a bridge `br0` (SERVER_ADDRESS/24) and QEMU's tap;
* dnsmasq runs from the tree's conf/dnsmasq.conf with only `interface=` and `dhcp-range=`
  substituted (both reported), plus command-line log/lease/pid files;
* proxy mode adds a second namespace behind a veth pair with a second dnsmasq as "the existing
  DHCP server" (sending conf/dhcp-server-252.conf's option 252 when asked);
* HTTP (wimboot, UEFI HTTP Boot) comes from nginx with the tree's conf/nginx.conf server block
  (an error when nginx is missing: no friendlier stand-in server);
* dnsmasq and nginx drop root for nobody; a tree nobody cannot read is an error, not a reason to
  run them as root;
* every TFTP transfer and HTTP request is read back from the server logs; namespaces, links and
  processes are removed on every way out.

Needs root (CAP_NET_ADMIN); `available()` says why not, and the runner then falls back to slirp.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pebuild.errors import ToolError, UsageError

SERVER_ADDRESS = "10.213.0.1"
EXISTING_DHCP_ADDRESS = "10.213.0.2"
FULL_RANGE = "10.213.0.100,10.213.0.199,255.255.255.0,1h"
PROXY_RANGE = "10.213.0.0"
BRIDGE, TAP = "br0", "tap0"
_COUNTER = itertools.count()
_TFTP_LINE = re.compile(r"dnsmasq-tftp\[\d+\]: (.*)$")
_HTTP_LINE = re.compile(r'"(?:GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3})')


@dataclass
class Transfer:
    """One TFTP transfer or HTTP request as the server logged it."""

    protocol: str  # tftp | http
    file: str
    outcome: str  # sent | not found | aborted | failed | <HTTP status>

    def to_json(self) -> dict[str, str]:
        return {"protocol": self.protocol, "file": self.file, "outcome": self.outcome}


@dataclass
class NetbootReport:
    """What the server side saw; part of the smoke verdict (`SmokeResult.netboot`)."""

    mode: str
    interface: str
    dhcp_range: str
    http_server: str | None
    transfers: list[Transfer] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # name -> kept path
    substituted: dict[str, str] = field(default_factory=dict)  # conf line -> the tree's own value

    def to_json(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "interface": self.interface,
            "dhcp_range": self.dhcp_range,
            "server_address": SERVER_ADDRESS,
            "http_server": self.http_server,
            "substituted": self.substituted,
            "transfers": [t.to_json() for t in self.transfers],
            "logs": self.logs,
        }

    def summary(self) -> str:
        done = [t.file for t in self.transfers if t.outcome in ("sent", "200")]
        sized = [t.file for t in self.transfers if t.outcome.startswith("size only")]
        other = [f"{t.file} ({t.outcome})" for t in self.transfers
                 if t.outcome not in ("sent", "200") and not t.outcome.startswith("size only")]  # fmt: skip
        text = f"served: {', '.join(done) or 'nothing'}"
        text += f"; size asked: {', '.join(sized)}" if sized else ""
        return text + (f"; not served: {', '.join(other)}" if other else "")


def available() -> str | None:
    """None when this process can build namespaces and taps; else why not (a one-line reason)."""
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    try:
        caps = next(
            line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("CapEff")
        )
        cap_net_admin = bool(int(caps.split()[1], 16) >> 12 & 1)
    except (OSError, StopIteration, ValueError):
        cap_net_admin = os.geteuid() == 0
    if not cap_net_admin:
        return "no CAP_NET_ADMIN (run as root for a private network namespace with a tap device)"
    for tool in ("ip", "dnsmasq"):
        if _which(tool) is None:
            return f"{tool} not installed (Debian packages iproute2, dnsmasq)"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (tap devices)"
    return None


def _which(tool: str) -> str | None:
    return shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if Path(p).exists()), None
    )


def substitute(conf: str, mode: str, interface: str, dhcp_range: str) -> tuple[str, dict[str, str]]:
    """The tree's dnsmasq.conf with only `interface=` and `dhcp-range=` replaced (added if absent)."""
    out: list[str] = []
    was: dict[str, str] = {}
    new_range = f"{dhcp_range},proxy" if mode == "proxy" else dhcp_range
    for line in conf.splitlines():
        if line.startswith("interface="):
            was["interface"] = line.partition("=")[2]
            continue
        if line.startswith("dhcp-range="):
            was["dhcp-range"] = line.partition("=")[2]
            line = f"dhcp-range={new_range}"
        out.append(line)
    if "dhcp-range" not in was:
        raise UsageError("the tree's conf/dnsmasq.conf has no dhcp-range line: not a pebuild PXE tree?")
    out.insert(0, f"interface={interface}")
    if "bind-interfaces" not in out:
        out.insert(1, "bind-interfaces")
    was.setdefault("interface", "(none)")
    return "\n".join(out) + "\n", was


class _Procs:
    """Processes started in the namespaces, each in its own process group; all stopped on close."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=3)


def _ip(*args: str) -> None:
    proc = subprocess.run([_which("ip") or "ip", *args], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise ToolError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")


def _wait_for(predicate, what: str, proc: subprocess.Popen[bytes], log: Path, limit: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while not predicate():
        if proc.poll() is not None:
            tail = log.read_text("utf-8", "replace").strip().splitlines()[-1:] if log.exists() else []
            raise ToolError(f"{what} exited with code {proc.returncode}: {' '.join(tail)}")
        if time.monotonic() > deadline:
            raise ToolError(f"{what} did not start within {limit:g} s")
        time.sleep(0.05)


@dataclass
class Netboot:
    """A running server side; `qemu_prefix` and `netdev` go into the QEMU command."""

    namespace: str
    workdir: Path
    report: NetbootReport
    tree: Path

    @property
    def qemu_prefix(self) -> list[str]:
        return [_which("ip") or "ip", "netns", "exec", self.namespace]

    @property
    def netdev(self) -> str:
        return f"tap,id=n0,ifname={TAP},script=no,downscript=no"

    def collect(self) -> NetbootReport:
        """Read the TFTP and HTTP outcomes from the server logs into the report."""
        transfers: list[Transfer] = []
        log = self.workdir / "dnsmasq.log"
        for line in log.read_text("utf-8", "replace").splitlines() if log.exists() else []:
            match = _TFTP_LINE.search(line)
            if match:
                transfers += _tftp_event(match.group(1))
        for name in ("http-access.log",):
            path = self.workdir / name
            for line in path.read_text("utf-8", "replace").splitlines() if path.exists() else []:
                match = _HTTP_LINE.search(line)
                if match:
                    transfers.append(Transfer("http", match.group(1), match.group(2)))
        self.report.transfers = _merge_aborts(transfers, self.tree)
        return self.report


def _merge_aborts(transfers: list[Transfer], tree: Path) -> list[Transfer]:
    """Tree-relative names; an abort followed by `failed sending F` is one size query of F (tsize)."""
    out: list[Transfer] = []
    for t in transfers:
        with contextlib.suppress(ValueError):
            t.file = Path(t.file).relative_to(tree).as_posix()
        if t.outcome == "failed" and out and out[-1].file == "?" and out[-1].outcome.startswith("aborted"):
            out[-1] = Transfer(t.protocol, t.file, "size only (tsize, then the client aborted)")
            continue
        out.append(t)
    return out


def _tftp_event(text: str) -> list[Transfer]:
    """dnsmasq's TFTP log lines (tftp.c): sent / file ... not found / error N ... received / failed."""
    if m := re.match(r"sent (\S+) to ", text):
        return [Transfer("tftp", m.group(1), "sent")]
    if m := re.match(r"file (\S+) not found", text):
        return [Transfer("tftp", m.group(1), "not found")]
    if m := re.match(r"error \d+ (.*) received from ", text):
        return [Transfer("tftp", "?", f"aborted by the client: {m.group(1)}")]
    if m := re.match(r"failed sending (\S+) to ", text):
        return [Transfer("tftp", m.group(1), "failed")]
    if m := re.match(r"cannot access (\S+): (.*)", text):
        return [Transfer("tftp", m.group(1), f"cannot access: {m.group(2)}")]
    return []


def _unreadable(tree: Path) -> Path | None:
    """The first path dnsmasq and nginx, which drop root for nobody, cannot reach or read; None if none.

    pebuild writes trees 0755/0644 (pebuild.outputs); one inside a 0700 directory (pytest's
    tmp_path, a private home) is out of nobody's reach, as it would be on a real server. The
    servers are never escalated to root to hide that.
    """
    for parent in tree.resolve().parents:
        if not parent.stat().st_mode & 0o001:
            return parent
    for path in [tree, *tree.rglob("*")]:
        mode = path.stat().st_mode
        if (path.is_dir() and mode & 0o005 != 0o005) or (path.is_file() and not mode & 0o004):
            return path
    return None


@contextlib.contextmanager
def netboot(tree: Path, mode: str, workdir: Path, *, existing_252: bool = True) -> Iterator[Netboot]:
    """Start the server side for `tree`; yields a Netboot; everything is removed on exit."""
    if mode not in ("full", "proxy"):
        raise UsageError(f"DHCP mode must be full or proxy, not {mode!r}")
    conf_path = tree / "conf" / "dnsmasq.conf"
    if not conf_path.is_file():
        raise UsageError(f"{conf_path} not found: --pxe needs a tree written by pebuild pxe or make --pxe")
    tree = tree.resolve()
    conf, was = substitute(conf_path.read_text(), mode, BRIDGE, FULL_RANGE if mode == "full" else PROXY_RANGE)
    base = f"pbnb{os.getpid()}-{next(_COUNTER)}"
    main_ns, dhcp_ns = base, f"{base}-dhcp"
    procs = _Procs()
    made: list[str] = []
    blocked = _unreadable(tree)
    if blocked is not None:
        raise UsageError(
            f"{blocked} is not readable by nobody (mode {blocked.stat().st_mode & 0o777:o}): dnsmasq and nginx "
            "drop root for nobody, as on a real server; make the tree and the directories above it world-readable"
        )
    report = NetbootReport(mode, BRIDGE, FULL_RANGE if mode == "full" else PROXY_RANGE, None, substituted=was)
    try:
        _ip("netns", "add", main_ns)
        made.append(main_ns)
        for args in (
            ("link", "set", "lo", "up"),
            ("link", "add", BRIDGE, "type", "bridge"),
            ("addr", "add", f"{SERVER_ADDRESS}/24", "dev", BRIDGE),
            ("link", "set", BRIDGE, "up"),
            ("tuntap", "add", "dev", TAP, "mode", "tap"),
            ("link", "set", TAP, "master", BRIDGE, "up"),
        ):
            _ip("-n", main_ns, *args)
        if mode == "proxy":
            _ip("netns", "add", dhcp_ns)
            made.append(dhcp_ns)
            _ip("-n", main_ns, "link", "add", "vd1", "type", "veth", "peer", "name", "vd0", "netns", dhcp_ns)
            _ip("-n", main_ns, "link", "set", "vd1", "master", BRIDGE, "up")
            _ip("-n", dhcp_ns, "link", "set", "lo", "up")
            _ip("-n", dhcp_ns, "addr", "add", f"{EXISTING_DHCP_ADDRESS}/24", "dev", "vd0")
            _ip("-n", dhcp_ns, "link", "set", "vd0", "up")
            extra = tree / "conf" / "dhcp-server-252.conf"
            argv = [*_in(dhcp_ns), _which("dnsmasq") or "dnsmasq", "--keep-in-foreground", "--port=0",
                    "--conf-file=" + (str(extra) if existing_252 and extra.is_file() else "/dev/null"),
                    "--interface=vd0", "--bind-interfaces", f"--dhcp-range={FULL_RANGE}", "--dhcp-authoritative",
                    "--log-dhcp", "--no-ping", "--pid-file=", f"--dhcp-leasefile={workdir / 'existing.leases'}",
                    f"--log-facility={workdir / 'existing-dhcp.log'}"]  # fmt: skip
            existing = procs.start(argv, workdir / "existing-dhcp.out")
            _wait_for(lambda: _logged(workdir / "existing-dhcp.log", "DHCP, IP range"), "the existing DHCP server",
                      existing, workdir / "existing-dhcp.out")  # fmt: skip
            report.logs["existing_dhcp"] = str(workdir / "existing-dhcp.log")
        (workdir / "dnsmasq.conf").write_text(conf)
        argv = [*_in(main_ns), _which("dnsmasq") or "dnsmasq", "--keep-in-foreground",
                f"--conf-file={workdir / 'dnsmasq.conf'}", "--pid-file=", f"--dhcp-leasefile={workdir / 'leases'}",
                f"--log-facility={workdir / 'dnsmasq.log'}", "--no-ping"]  # fmt: skip
        server = procs.start(argv, workdir / "dnsmasq.out")
        _wait_for(
            lambda: _logged(workdir / "dnsmasq.log", "TFTP root is"),
            "dnsmasq",
            server,
            workdir / "dnsmasq.out",
        )
        report.logs["dnsmasq"] = str(workdir / "dnsmasq.log")
        if "http://" in conf or (
            (tree / "boot.ipxe").is_file() and "http://" in (tree / "boot.ipxe").read_text()
        ):
            report.http_server = _start_http(tree, main_ns, workdir, procs)
            report.logs["http"] = str(workdir / "http-access.log")
        yield Netboot(main_ns, workdir, report, tree)
    finally:
        procs.close()
        for ns in reversed(made):
            with contextlib.suppress(ToolError, subprocess.TimeoutExpired):
                _ip("netns", "del", ns)


def _in(namespace: str) -> list[str]:
    return [_which("ip") or "ip", "netns", "exec", namespace]


def _logged(path: Path, text: str) -> bool:
    try:
        return text in path.read_text("utf-8", "replace")
    except OSError:
        return False


def _start_http(tree: Path, namespace: str, workdir: Path, procs: _Procs) -> str:
    """nginx with the tree's own server block (conf/nginx.conf); no stand-in server when it is missing."""
    nginx = _which("nginx")
    if nginx is None:
        raise ToolError(
            "nginx not installed (Debian package nginx): the tree's HTTP files are served with conf/nginx.conf"
        )
    temp = workdir / "nginx-temp"
    temp.mkdir(exist_ok=True)
    mime = Path("/etc/nginx/mime.types")
    wrapper = workdir / "nginx.conf"
    wrapper.write_text(
        f"daemon off;\nmaster_process on;\nworker_processes 1;\npid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'http-error.log'} info;\nuser nobody nogroup;\n"
        "events { worker_connections 64; }\nhttp {\n"
        + (f"    include {mime};\n" if mime.is_file() else "")
        + f"    access_log {workdir / 'http-access.log'};\n"
        + "".join(f"    {kind}_temp_path {temp / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"    include {tree / 'conf' / 'nginx.conf'};\n}}\n"
    )  # fmt: skip
    proc = procs.start([*_in(namespace), nginx, "-c", str(wrapper), "-e", str(workdir / "http-error.log")],
                       workdir / "http.out")  # fmt: skip
    kind = "nginx"
    _wait_for(lambda: _port_open(namespace, 80), kind, proc, workdir / "http.out")
    return kind


def _port_open(namespace: str, port: int) -> bool:
    proc = subprocess.run([*_in(namespace), "ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                          timeout=10)  # fmt: skip
    return f":{port}" in proc.stdout
