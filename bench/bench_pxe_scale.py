"""PXE at cluster scale: N concurrent clients fetch boot.wim over TFTP and HTTP, and uftp multicasts
an install image to N receivers, all inside private network namespaces (bench/_netlab.py).

The servers are started from the tree's own generated configuration: dnsmasq from conf/dnsmasq.conf
(TFTP, proxy-DHCP on the lab subnet) and nginx from conf/nginx.conf included into a minimal http {}.
TFTP clients are atftp (C) asking for the BCD's ramdisktftpblocksize/windowsize, as bootmgr does, for
the BCD's backslash path; HTTP clients are curl. Every client of a run starts at once; client 0 saves
the file and its sha256 is checked, the others discard it; dnsmasq's "sent" log lines must match
the TFTP successes. A run has a deadline; clients still running then are killed and counted as
timeouts. Links: the bare veth (a memory copy: no wire, no loss) and, with --rate-mbit, a server NIC
shaped with tc tbf to that speed (e.g. 1000 = 1 GbE). The machine has 2 cores shared by servers and
clients, so server CPU is reported beside every figure.

Budget: N x 400 MB through lock-step TFTP is ~100 GB at N=256, so by default each run moves at most
--budget-mb (the file shrinks to budget/N, at least 4 MB) and per-client times are also given
scaled to 400 MB at the measured aggregate rate. --full uses 400 MB at every N; --quick is small.
Run: .venv/bin/python bench/bench_pxe_scale.py [--quick | --full] [--clients 1,16,64,256] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _netlab as lab_
from bench_pxe import TFTP_CLIENT, bcd_tftp_options, make_boot_wim, sha256

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("dnsmasq", "nginx", "atftp", "curl", "uftp", "uftpd", "unshare", "nsenter", "ip", "ss", "tc", "prlimit",
         "hivexregedit")  # fmt: skip
FULL_MB = 400


@dataclass
class Result:
    """One run: `clients` concurrent fetches of a `size`-byte file by one protocol over one link."""

    protocol: str
    link: str
    clients: int
    size: int
    ok: int
    failures: int
    timeouts: int
    wall: float
    median: float
    worst: float
    server_cpu: float
    client_cpu: float
    note: str = ""
    times: list[float] = field(default_factory=list, repr=False)

    @property
    def aggregate(self) -> float:  # MB/s of completed transfers
        return self.ok * self.size / self.wall / 1e6 if self.wall else 0.0

    def row(self) -> str:
        mb = self.size / 1e6
        cpu = f"{self.server_cpu:.1f} ({100 * self.server_cpu / self.wall:.0f}%)" if self.wall else "—"
        at400 = (f"{self.clients * FULL_MB / self.aggregate:.0f}" if self.aggregate else "—")  # fmt: skip
        return (f"| {self.protocol} | {self.link} | {self.clients} | {mb:.0f} | {self.ok}/{self.clients} | "
                f"{self.failures} | {self.timeouts} | {self.aggregate:.0f} | {self.median:.2f} | "
                f"{self.worst:.2f} | {cpu} | {at400} |{(' ' + self.note) if self.note else ''}")  # fmt: skip


TABLE_HEAD = [
    "| protocol | link | N | file MB | ok | failed | timed out | aggregate MB/s | median s per client "
    "| worst s | server CPU s (% of one core) | s for N × 400 MB at this rate |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]


def build_tree(work: Path, size_mb: int, name: str = "") -> tuple[Path, Path, str]:
    """A pebuild PXE tree (write_pxe_tree) whose boot.wim carries `size_mb` MB of random data."""
    from pebuild.pxe import PxeRequest, write_pxe_tree

    name = name or str(size_mb)
    base = work / f"wim-{name}"
    base.mkdir()
    wim = make_boot_wim(base, size_mb)
    tree = work / f"tree-{name}"
    result = write_pxe_tree(PxeRequest(dest=tree, boot_wim=wim, dhcp_range=f"{lab_.SERVER_IP.rsplit('.', 2)[0]}.0.0",
                                       interface=lab_.SERVER_IF, timestamp=1))  # fmt: skip
    wim.unlink()  # the tree is 0755/0644 as pebuild writes it: dnsmasq and nginx's workers run as nobody
    return tree, tree / result.arches[0].boot_wim, result.arches[0].boot_wim


def _log_counts(log: Path, offset: int, rel: str) -> tuple[int, int]:
    text = log.read_text(errors="replace")[offset:]
    name = rel.rsplit("/", 1)[-1]
    sent = sum(1 for line in text.splitlines() if " sent " in line and name in line)
    failed = sum(1 for line in text.splitlines() if "failed sending" in line or "error" in line.lower())
    return sent, failed


def run_clients(
    the_lab: lab_.Lab, server: lab_.Server, protocol: str, link: str, n: int, tree: Path, rel: str,
    block: int, window: int, deadline: float, work: Path,
) -> Result:  # fmt: skip
    """Start `n` clients in client host 0 at once; check client 0's copy and the server's log."""
    wim = tree / rel
    size = wim.stat().st_size
    keep = work / f"{protocol}-client0.wim"
    argvs = []
    for i in range(n):
        out = str(keep) if i == 0 else "/dev/null"
        if protocol == "TFTP":
            path = "\\" + rel.replace("/", "\\")  # the BCD's ramdisk path, as bootmgr asks for it
            argvs.append(["atftp", "--option", f"blksize {block}", "--option", f"windowsize {window}",
                          "-g", "-r", path, "-l", out, lab_.SERVER_IP, "69"])  # fmt: skip
        else:
            argvs.append(["curl", "-sS", "-o", out, "--max-time", str(int(deadline)), "-w",
                          "%{http_code} %{size_download}", f"http://{lab_.SERVER_IP}/{rel}"])  # fmt: skip
    offset = len(server.log.read_text(errors="replace")) if server.log.exists() else 0
    cpu0 = server.cpu_seconds()
    runs = lab_.swarm(the_lab.clients[0], argvs, work / f"out-{protocol}-{n}", deadline)
    time.sleep(0.2)  # let dnsmasq flush its last "sent" lines
    cpu = server.cpu_seconds() - cpu0
    good = [r.returncode == 0 and not r.timed_out for r in runs]
    if protocol == "HTTP":
        good = [g and r.stdout.split() == ["200", str(size)] for g, r in zip(good, runs, strict=True)]
    note = ""
    if good[0] and sha256(keep) != sha256(wim):
        good[0] = False
        note = "client 0's copy differs from the tree's boot.wim"
    keep.unlink(missing_ok=True)
    if protocol == "TFTP":
        sent, failed = _log_counts(server.log, offset, rel)
        if sent != sum(good):
            note += f" dnsmasq logged {sent} completed transfers for {sum(good)} successful clients."
        if failed:
            note += f" dnsmasq logged {failed} failed transfers."
    times = [r.seconds for r in runs]
    timeouts = sum(r.timed_out for r in runs)
    wall = max(r.end for r in runs) - min(r.start for r in runs)
    return Result(protocol, link, n, size, sum(good), n - sum(good) - timeouts, timeouts, wall,
                  statistics.median(times), max(times), cpu, sum(r.cpu_seconds for r in runs),
                  note.strip(), times)  # fmt: skip


def _size_mb(args: argparse.Namespace, n: int) -> int:
    """The boot.wim payload of a run of `n` clients: --size-mb, cut to the budget (at least 4 MB)."""
    return args.size_mb if args.full else max(4, min(args.size_mb, args.budget_mb // n))


def scale_runs(args: argparse.Namespace, work: Path, link_rates: list[int]) -> tuple[list[Result], dict]:
    results: list[Result] = []
    info: dict[str, object] = {}
    trees: dict[int, tuple[Path, Path, str]] = {}
    for n in args.clients:
        size_mb = _size_mb(args, n)
        if size_mb not in trees:
            trees[size_mb] = build_tree(work, size_mb)
    any_tree = next(iter(trees.values()))[0] if trees else build_tree(work, 4, name="bcd")[0]
    block, window = bcd_tftp_options(any_tree / "Boot/x64/BCD")
    info.update(block=block, window=window)
    for rate in link_rates:
        link = f"{rate} Mbit/s (tbf)" if rate else "veth"
        with lab_.lab(1, rate_mbit=rate or None) as the_lab:
            if "oack" not in info:
                info["oack"] = oack_probe(the_lab, any_tree, block, window, work)
            for n in args.clients:
                size_mb = _size_mb(args, n)
                tree, _, rel = trees[size_mb]
                deadline = args.deadline or 60 + n * size_mb / 4  # >= 4 MB/s aggregate, or time out
                for protocol in ("TFTP", "HTTP"):
                    manager = (lab_.dnsmasq(the_lab, tree / "conf/dnsmasq.conf", work) if protocol == "TFTP"
                               else lab_.nginx(the_lab, tree / "conf/nginx.conf", work))  # fmt: skip
                    with manager as server:
                        res = run_clients(the_lab, server, protocol, link, n, tree, rel, block, window,
                                          deadline, work)  # fmt: skip
                    print(res.row(), flush=True)
                    results.append(res)
    return results, info


def oack_probe(the_lab: lab_.Lab, tree: Path, block: int, window: int, work: Path) -> str:
    """The options dnsmasq grants to bootmgr's request (a minimal Python client reads the OACK)."""
    with lab_.dnsmasq(the_lab, tree / "conf/dnsmasq.conf", work):
        proc = subprocess.run(
            [*the_lab.clients[0].enter(), sys.executable, str(TFTP_CLIENT), lab_.SERVER_IP, "69",
             "\\Boot\\x64\\boot.sdi", f"--option=blksize={block}", f"--option=windowsize={window}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    if proc.returncode != 0:
        return f"(OACK probe failed: {proc.stderr.strip()[-200:]})"
    oack = json.loads(proc.stdout)["oack"]
    return ", ".join(f"`{k} {v}`" for k, v in sorted(oack.items()) if k != "tsize") or "no options"


def tftp_max_probe(args: argparse.Namespace, work: Path, info: dict) -> Result | None:
    """Past dnsmasq's tftp-max: the generated conf with only tftp-max lowered, 4x that many clients."""
    limit = args.tftp_max_probe
    if not limit:
        return None
    tree, _, rel = build_tree(work, args.probe_mb, name="probe")
    info["fd_note"] = fd_limit_note(work, tree)
    conf = work / "dnsmasq-tftp-max.conf"
    text = (tree / "conf/dnsmasq.conf").read_text()
    generated = re.search(r"^tftp-max=(\d+)$", text, re.M)
    info["generated_tftp_max"] = int(generated.group(1)) if generated else None
    conf.write_text(re.sub(r"^tftp-max=\d+$", f"tftp-max={limit}", text, flags=re.M))
    with lab_.lab(1) as the_lab, lab_.dnsmasq(the_lab, conf, work) as server:
        res = run_clients(the_lab, server, "TFTP", f"veth, tftp-max={limit}", 4 * limit, tree, rel,
                          info["block"], info["window"], args.deadline or 300, work)  # fmt: skip
    times = sorted(res.times)
    first, rest = times[:limit], times[limit:]
    res.note = (f"fastest {limit}: {min(first):.2f}–{max(first):.2f} s; the other {len(rest)}: "
                f"{min(rest):.2f}–{max(rest):.2f} s. {res.note}").strip()  # fmt: skip
    print(res.row(), flush=True)
    return res


@dataclass
class UftpResult:
    receivers: int
    size: int
    pacing: str
    link: str
    wall: float
    complete: int
    verified: int
    sender_cpu: float
    receiver_cpu: float
    summary: str
    commands: tuple[str, str]

    @property
    def mbps(self) -> float:
        return self.size / self.wall / 1e6 if self.wall else 0.0


def _uid(ip: str) -> str:
    return "0x" + "".join(f"{int(part):02X}" for part in ip.split("."))


def uftp_run(args: argparse.Namespace, work: Path, cc: str = "none") -> UftpResult | None:
    """uftp (server ns) sends one `--uftp-mb` file to `--uftp-receivers` uftpd daemons, one per client ns;
    `cc` "none": a fixed rate (-R), "tfmcc": RFC 4654 congestion control capped at that rate."""
    if not args.uftp_receivers:
        return None
    image = work / "install.wim"
    with open(image, "wb") as fh:  # random: nothing on the path can compress it
        for _ in range(args.uftp_mb):
            fh.write(os.urandom(1 << 20))
    size = image.stat().st_size
    rate = args.uftp_rate_kbps
    uids = [_uid(lab_.client_ip(k)) for k in range(args.uftp_receivers)]
    with lab_.lab(args.uftp_receivers, rate_mbit=args.uftp_link_mbit or None) as the_lab:
        daemons = []
        receive_cmd = ""
        try:
            for k, ns in enumerate(the_lab.clients):
                dest = work / f"uftp-recv-{k}"
                dest.mkdir()
                argv = ["uftpd", "-d", "-q", "-x", "1", "-U", uids[k], "-I", lab_.CLIENT_IF, "-D", str(dest)]
                receive_cmd = receive_cmd or " ".join(argv).replace(str(dest), "/srv/incoming")
                log = open(work / f"uftpd-{k}.log", "wb")  # noqa: SIM115 - closed below
                daemons.append((subprocess.Popen([*ns.enter(), *argv], stdout=log, stderr=log,
                                                 start_new_session=True), log))  # fmt: skip
            time.sleep(1.0)  # the daemons join the public multicast group
            pace = ["-R", str(rate)] if cc == "none" else ["-C", f"tfmcc:max={rate}"]
            send = ["uftp", "-I", lab_.SERVER_IF, *pace, "-Y", "none", "-x", "2",
                    "-H", ",".join(uids), str(image)]  # fmt: skip
            send_cmd = (
                " ".join(send).replace(",".join(uids), "@clients.txt").replace(str(image), "install.wim")
            )
            cpu0 = _children_cpu()
            start = time.monotonic()
            proc = subprocess.run([*the_lab.server.enter(), *send], capture_output=True, text=True,
                                  timeout=args.deadline or 900)  # fmt: skip
            wall = time.monotonic() - start
            sender_cpu = _children_cpu() - cpu0
            time.sleep(0.5)
        finally:
            receiver_cpu = 0.0
            for daemon, log in daemons:
                receiver_cpu += lab_.Server("uftpd", daemon, Path(log.name)).cpu_seconds()
                lab_.Server("uftpd", daemon, Path(log.name)).stop()
                log.close()
    received = [work / f"uftp-recv-{k}" / image.name for k in range(args.uftp_receivers)]
    complete = [p for p in received if p.exists() and p.stat().st_size == size]
    want = sha256(image)
    verified = sum(1 for p in {complete[0], complete[-1]} if sha256(p) == want) if complete else 0
    for k in range(args.uftp_receivers):
        shutil.rmtree(work / f"uftp-recv-{k}", ignore_errors=True)
    image.unlink()
    (work / "uftp.log").write_text(proc.stdout + proc.stderr)
    summary = _uftp_summary(proc.stdout + proc.stderr)
    link = f"{args.uftp_link_mbit} Mbit/s (tbf)" if args.uftp_link_mbit else "veth"
    res = UftpResult(args.uftp_receivers, size, " ".join(pace), link, wall, len(complete), verified, sender_cpu,
                     receiver_cpu, summary, (send_cmd, receive_cmd))  # fmt: skip
    print(f"uftp {res.pacing}: {res.size / 1e6:.0f} MB to {res.receivers} receivers in {res.wall:.1f} s "
          f"({res.mbps:.0f} MB/s), {res.complete} complete, rc {proc.returncode}", flush=True)  # fmt: skip
    return res


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def _uftp_summary(log: str) -> str:
    """uftp's own account: elapsed time, throughput, NAKs and passes (retransmission rounds)."""
    naks = sum(int(m) for m in re.findall(r"Got (\d+) NAKs", log))
    passes = max((int(m) for m in re.findall(r"Starting pass (\d+)", log)), default=0)
    done = len(re.findall(r"Status: Completed", log))
    elapsed = re.search(r"Total elapsed time: ([\d.]+)", log)
    rate = re.search(r"Overall throughput: ([\d.]+) KB/s", log)
    parts = [f"{done} receivers completed", f"{passes} pass(es)", f"{naks} NAKs"]
    if elapsed and rate:
        parts.append(f"uftp: {float(elapsed.group(1)):.1f} s, {float(rate.group(1)) * 1024 / 1e6:.0f} MB/s")
    return ", ".join(parts)


def _versions(packages: tuple[str, ...]) -> str:
    """Debian package versions of the servers and clients measured."""
    fmt = "${Package} ${Version}\n"
    proc = subprocess.run(["dpkg-query", "-W", f"-f={fmt}", *packages], capture_output=True, text=True)
    return ", ".join(proc.stdout.split("\n")[:-1]) or "versions unknown"


def fd_limit_note(work: Path, tree: Path) -> str:
    """What dnsmasq makes of tftp-max under a low open-files limit (it logs the cap it applies)."""
    notes = []
    for nofile in (1024, 256):
        log = work / f"dnsmasq-nofile-{nofile}.log"
        prlimit = ("prlimit", f"--nofile={nofile}:{nofile}")
        with lab_.lab(0) as the_lab, lab_.dnsmasq(the_lab, tree / "conf/dnsmasq.conf", work, prefix=prlimit,
                                                  log_name=log.name):  # fmt: skip
            pass
        capped = re.search(r"restricting maximum simultaneous TFTP transfers to (\d+)", log.read_text())
        notes.append(f"open-files limit {nofile}: " + (f"dnsmasq caps it at {capped.group(1)}" if capped
                                                        else "no cap logged"))  # fmt: skip
    return "; ".join(notes)


def report(args: argparse.Namespace, results: list[Result], probe: Result | None,
           multicast: list[UftpResult], info: dict, total: float) -> str:  # fmt: skip
    mode = "--quick" if args.quick else "--full" if args.full else "default"
    cmd = (
        " ".join(["bench/bench_pxe_scale.py", *sys.argv[1:]]) if sys.argv[1:] else "bench/bench_pxe_scale.py"
    )
    versions = _versions(("dnsmasq-base", "nginx", "atftp", "curl", "uftp")) + f", Linux {platform.release()}"
    lines = [
        "## PXE at cluster scale: N clients at once over TFTP (dnsmasq) and HTTP (nginx); uftp multicast",
        "",
        f"`{cmd}` ({mode} mode, {total / 60:.0f} min). A tree written by `write_pxe_tree` (proxy-DHCP on the "
        "lab subnet, `interface=vsrv`), served by dnsmasq from its own `conf/dnsmasq.conf` and by nginx "
        "with its own `conf/nginx.conf` server block, in a server namespace; the N clients run in one "
        "client namespace (one address, N ports) behind a Linux bridge (bench/_netlab.py). TFTP client: "
        f"atftp asking for the BCD's `blksize {info['block']}` and `windowsize {info['window']}` with the "
        "BCD's backslash path; dnsmasq granted " + info.get("oack", "?") + ". HTTP client: curl. All N "
        "start at once; a run moves at most "
        + (
            f"{FULL_MB} MB per client"
            if args.full
            else f"{args.budget_mb} MB (file = budget / N, at most {args.size_mb} MB, at least 4 MB)"
        )
        + "; clients still running at the deadline (60 s + N × MB / 4 MB/s) are killed and counted as "
        "timed out. The last column scales each client's time to a 400 MB boot.wim at the measured "
        "aggregate rate (N × 400 MB / aggregate): an estimate, not a run.",
        f"{platform.node()}: {platform.machine()}, {os.cpu_count()} CPUs shared by servers, "
        f"clients and other builds (load average {os.getloadavg()[0]:.1f} at the end); veth MTU 1500. "
        f"{versions}.",
        "",
        *TABLE_HEAD,
        *[r.row() for r in results],
        "",
    ]
    if probe is not None:
        gen = info.get("generated_tftp_max")
        lines += [
            f"**Past `tftp-max`.** The generated conf sets `tftp-max={gen}` (dnsmasq's default is 50). "
            f"Rerun with only that line lowered to {args.tftp_max_probe} and {probe.clients} clients:",
            "",
            *TABLE_HEAD,
            probe.row(),
            "",
            f"{probe.ok} of {probe.clients} completed, {probe.failures} failed, {probe.timeouts} timed out. "
            "A read request past the limit gets no answer until a running transfer ends; a client "
            "that waits past its own retry budget gives up (atftp: 6 tries 5 s apart, about 30 s). "
            "So `tftp-max` must exceed the number of nodes that boot at once, and dnsmasq needs one "
            "file descriptor per transfer (man dnsmasq): " + info.get("fd_note", "") + ".",
            "",
        ]
    for m in multicast:
        lines += [
            f"**Multicast: uftp {m.size / 1e6:.0f} MB to {m.receivers} receivers, `{m.pacing}`** (one "
            f"namespace each, on the same bridge; server NIC {m.link}): {m.wall:.1f} s wall "
            f"({m.mbps:.0f} MB/s to every receiver at once, {m.receivers * m.mbps:.0f} MB/s delivered in "
            f"total), {m.complete}/{m.receivers} files complete, sha256 checked on {m.verified}; "
            f"{m.summary}. CPU: sender {m.sender_cpu:.1f} s, receivers {m.receiver_cpu:.1f} s together.",
            "",
        ]
    if multicast:
        m = multicast[0]
        lines += [
            "Each receiver writes its copy to the one shared disk of this machine, and all receivers "
            "share its 2 cores. Commands (clients.txt: one receiver ID a line):",
            "",
            f"    receiver (each node):  {m.commands[1]}",
            *[f"    sender:                {r.commands[0]}" for r in multicast],
            "",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small files, bare veth only, 4 uftp receivers")
    mode.add_argument("--full", action="store_true", help=f"{FULL_MB} MB at every N (can take hours)")
    parser.add_argument("--clients", default="1,16,64,256", help="the N of each run (default 1,16,64,256)")
    parser.add_argument("--size-mb", type=int, default=FULL_MB, help="boot.wim payload at small N")
    parser.add_argument("--budget-mb", type=int, help="at most this many MB per run (default 3200)")
    parser.add_argument("--rate-mbit", default=None, help="links: 0 = bare veth, else a tbf-shaped server "
                        "NIC (default 0,1000)")  # fmt: skip
    parser.add_argument("--deadline", type=float, help="seconds per run (default 60 + N x MB / 4)")
    parser.add_argument("--tftp-max-probe", type=int, help="rerun with tftp-max lowered to this, 4x clients")
    parser.add_argument("--probe-mb", type=int, help="boot.wim payload of that rerun (default 64)")
    parser.add_argument("--uftp-receivers", type=int, help="uftp receivers (default 16; 0: no uftp run)")
    parser.add_argument("--uftp-mb", type=int, help="size of the multicast file (default 1024)")
    parser.add_argument("--uftp-rate-kbps", type=int, default=900_000, help="uftp -R (default 900000)")
    parser.add_argument("--uftp-cc", default="none,tfmcc", help="uftp pacing runs: none (fixed -R), tfmcc")
    parser.add_argument("--uftp-link-mbit", type=int, default=1000, help="server NIC for uftp (0: veth)")
    parser.add_argument("--keep", type=Path, help="work directory parent (kept)")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/perf/pxe-scale.md")
    args = parser.parse_args(argv)
    args.clients = [int(n) for n in args.clients.split(",") if n]
    quick = args.quick
    args.budget_mb = args.budget_mb or (256 if quick else 3200)
    args.rate_mbit = args.rate_mbit or ("0" if quick else "0,1000")
    if args.tftp_max_probe is None:
        args.tftp_max_probe = 8 if quick else 16
    if args.uftp_receivers is None:
        args.uftp_receivers = 4 if quick else 16
    args.uftp_mb = args.uftp_mb or (256 if quick else 1024)
    args.probe_mb = args.probe_mb or (16 if quick else 64)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    why = lab_.cannot_run("bench_pxe_scale", TOOLS)
    if why is not None:
        print(why, file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="bench-pxe-scale-", dir=args.keep))
    work.chmod(0o755)  # nginx's workers (nobody) read the trees below it
    started = time.monotonic()
    try:
        rates = [int(r) for r in args.rate_mbit.split(",") if r]
        print("\n".join(TABLE_HEAD), flush=True)
        results, info = scale_runs(args, work, rates)
        probe = tftp_max_probe(args, work, info)
        multicast = [r for cc in args.uftp_cc.split(",") if (r := uftp_run(args, work, cc))]
        text = report(args, results, probe, multicast, info, time.monotonic() - started)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    if not args.no_doc:
        (ROOT / "docs" / "perf" / "pxe-scale.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
