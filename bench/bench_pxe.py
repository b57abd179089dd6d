"""Benchmark the PXE tree as served by the generated configuration: TFTP transfer time of a 400 MB
boot.wim with default options (RFC 1350, 512-byte blocks) vs the block/window size the tree's BCD asks
for, plus the HTTP path iPXE + wimboot takes, and the tree write itself vs `cp`.

The servers run as users run them (docs/pxe.md) and as the tests and `pebuild smoke --pxe` start
them: dnsmasq from the tree's own conf/dnsmasq.conf (`--keep-in-foreground --conf-file=`, no
`--user`: it drops root for nobody) and nginx with the tree's conf/nginx.conf in a minimal http {}
whose workers run as nobody, so the tree and the directories above it are world-readable. They sit
in a server namespace; the client is in another namespace behind a Linux bridge, on veth links with
Ethernet's 1500-byte MTU (bench/_netlab.py), so dnsmasq grants what it would on a LAN (1468 at most)
rather than loopback's 64 KiB. Everything is removed at the end. Timing client: atftp (C) for TFTP
and curl for HTTP, because a Python client would measure itself; the options dnsmasq granted come
from a minimal Python client's view of the OACK. A veth has no wire and no loss, so the figures show
protocol overhead (round trips per byte), not a real LAN. Needs root (network namespaces).
Run: .venv/bin/python bench/bench_pxe.py [--runs N] [--size-mb M] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _netlab as lab_

ROOT = Path(__file__).resolve().parents[1]
TFTP_CLIENT = ROOT / "tests" / "pxe" / "_tftp_client.py"
WIM = "Boot/x64/Images/boot.wim"


def make_boot_wim(work: Path, size_mb: int) -> Path:
    """A real (uncompressed) boot.wim: stand-in boot programs + `size_mb` MB of incompressible data."""
    from pebuild.sample.stubs import bios_program, efi_program
    from pebuild.wim import Compression, capture

    tree = work / "image"
    files = {
        "Windows/Boot/PXE/pxeboot.n12": bios_program("PEBUILD-SAMPLE pxeboot.n12"),
        "Windows/Boot/PXE/bootmgr.exe": bios_program("PEBUILD-SAMPLE bootmgr.exe"),
        "Windows/Boot/EFI/bootmgfw.efi": efi_program("PEBUILD-SAMPLE bootmgfw.efi"),
        "Windows/Boot/DVD/PCAT/boot.sdi": b"$SDI0001" + bytes(3_170_304 - 8),
    }
    for rel, data in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    payload = tree / "Windows/System32/payload.bin"
    payload.parent.mkdir(parents=True, exist_ok=True)
    with open(payload, "wb") as fh:
        for _ in range(size_mb):
            fh.write(os.urandom(1 << 20))
    wim = work / "boot.wim"
    capture(tree, wim, name="Microsoft Windows PE", compression=Compression.NONE, boot=True)
    shutil.rmtree(tree)
    return wim


def bcd_tftp_options(bcd: Path) -> tuple[int, int]:
    """ramdisktftpblocksize / ramdisktftpwindowsize as the tree's BCD holds them (read with hivexregedit)."""
    text = subprocess.run(
        ["hivexregedit", "--export", str(bcd), "\\"], check=True, capture_output=True, text=True
    ).stdout
    values: dict[str, int] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("["):
            key = line.rsplit("\\", 1)[-1].rstrip("]").lower()
        elif line.startswith('"Element"=hex(3):') and key in ("35000007", "35000008"):
            values[key] = int.from_bytes(bytes.fromhex(line.split(":", 1)[1].replace(",", "")), "little")
    return values["35000007"], values["35000008"]


def dnsmasq_user(pid: int) -> str:
    """Who the running dnsmasq is: it must have dropped root for nobody, as on a real server."""
    import pwd

    uid = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("Uid:")).split()[1]  # fmt: skip
    name = pwd.getpwuid(int(uid)).pw_name
    if name == "root":
        raise SystemExit("bench_pxe: dnsmasq kept root; the bench must measure the documented command")
    return name


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args(argv)
    why = lab_.cannot_run("bench_pxe", ("dnsmasq", "nginx", "atftp", "curl", "hivexregedit", "unshare",
                                        "nsenter", "ip", "ss"))  # fmt: skip
    if why is not None:
        print(why, file=sys.stderr)
        return 1
    from pebuild.pxe import PxeRequest, write_pxe_tree

    work = Path(tempfile.mkdtemp(prefix="bench-pxe-", dir=args.keep))
    work.chmod(0o755)  # dnsmasq and nginx's workers run as nobody and read the tree below it
    try:
        wim = make_boot_wim(work, args.size_mb)
        size = wim.stat().st_size
        tree = work / "pxe"
        write_times, cp_times = [], []
        subnet = f"{lab_.SERVER_IP.rsplit('.', 2)[0]}.0.0"  # proxy-DHCP on the lab's subnet
        for i in range(args.runs):
            start = time.perf_counter()
            write_pxe_tree(PxeRequest(dest=tree, boot_wim=wim, dhcp_range=subnet, interface=lab_.SERVER_IF,
                                      timestamp=1))  # fmt: skip
            write_times.append(time.perf_counter() - start)
            cp_times.append(timed(["cp", str(wim), str(work / f"cp-{i}.wim")]))
            (work / f"cp-{i}.wim").unlink()
        block, window = bcd_tftp_options(tree / "Boot/x64/BCD")
        configs = {
            "default: RFC 1350, 512-byte blocks": [],
            f"tree's BCD: blksize {block}, windowsize {window}": ["--option", f"blksize {block}",
                                                                   "--option", f"windowsize {window}"],
            "blksize 8192 (common guide value; needs jumbo frames on a LAN)": ["--option", "blksize 8192"],
        }  # fmt: skip
        granted: dict[str, dict[str, str]] = {}
        times: dict[str, list[float]] = {name: [] for name in configs}
        http: list[float] = []
        server_ip = lab_.SERVER_IP
        with (
            lab_.lab(1) as the_lab,
            lab_.dnsmasq(the_lab, tree / "conf/dnsmasq.conf", work) as dnsmasq,
            lab_.nginx(the_lab, tree / "conf/nginx.conf", work),
        ):
            ns = the_lab.clients[0].enter()
            # the server NIC's MTU, which dnsmasq caps blksize by (`ip`, not /sys: nsenter keeps the host's sysfs)
            link = the_lab.server.sh(f"ip -o link show dev {lab_.SERVER_IF}").split()
            mtu = link[link.index("mtu") + 1]
            user = dnsmasq_user(dnsmasq.proc.pid)
            for name, opts in configs.items():
                wanted = {o.split()[0]: int(o.split()[1]) for o in opts[1::2]}
                probe = subprocess.run(
                    [*ns, sys.executable, str(TFTP_CLIENT), server_ip, "69", "\\Boot\\x64\\boot.sdi", *[f"--option={k}={v}" for k, v in wanted.items()]],
                    check=True, capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                granted[name] = json.loads(probe.stdout)["oack"]
                out = work / "fetched.wim"
                subprocess.run([*ns, "atftp", *opts, "-g", "-r", WIM, "-l", str(out), server_ip, "69"],
                               check=True, capture_output=True)  # fmt: skip
                if sha256(out) != sha256(wim):
                    raise SystemExit(f"{name}: fetched boot.wim differs")
                out.unlink()
            url = f"http://{server_ip}/{WIM}"
            out = work / "fetched-http.wim"
            subprocess.run([*ns, "curl", "-sfS", "-o", str(out), url], check=True, capture_output=True)
            if sha256(out) != sha256(wim):
                raise SystemExit("HTTP: fetched boot.wim differs")
            out.unlink()
            for _ in range(args.runs):  # alternate configurations so drift hits all alike
                for name, opts in configs.items():
                    times[name].append(
                        timed([*ns, "atftp", *opts, "-g", "-r", WIM, "-l", "/dev/null", server_ip, "69"])
                    )
                http.append(timed([*ns, "curl", "-sf", "-o", "/dev/null", url]))
        setup = {"mtu": mtu, "dnsmasq_user": user}
        report(args, size, block, window, configs, granted, times, http, write_times, cp_times, setup)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(args, size, block, window, configs, granted, times, http, write_times, cp_times, setup) -> None:  # type: ignore[no-untyped-def]
    mb = size / 1e6
    base = statistics.median(times[next(iter(configs))])
    dnsmasq_version = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True).stdout
    dnsmasq_version = dnsmasq_version.split("  Copyright")[0].strip()
    atftp = subprocess.run(["atftp", "--version"], capture_output=True, text=True)
    atftp_version = (atftp.stdout + atftp.stderr).strip().split("\n")[0] or "atftp"
    lines = [
        "## PXE: TFTP transfer of boot.wim from the generated dnsmasq.conf",
        "",
        f"`bench/bench_pxe.py --runs {args.runs} --size-mb {args.size_mb}`: a {mb:.0f} MB boot.wim in a tree "
        "written by `write_pxe_tree`, served as docs/pxe.md runs the servers: dnsmasq from the tree's own "
        f"`conf/dnsmasq.conf` (no `--user`; it ran as {setup['dnsmasq_user']}) and nginx with the tree's "
        "`conf/nginx.conf` (workers as nobody), in a server namespace; the client in another namespace "
        f"behind a Linux bridge, veth links at MTU {setup['mtu']} (bench/_netlab.py; a veth has no wire and "
        "no loss, so this measures protocol overhead, not a LAN). Client: atftp (C) for TFTP, curl for "
        f"HTTP; every configuration's first copy checked by sha256. Medians of {args.runs} runs, "
        "configurations alternated.",
        f"{platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, shared with "
        f"other builds while measured (load average {os.getloadavg()[0]:.1f} at the end). {dnsmasq_version}; "
        f"{atftp_version}.",
        "",
        "| transfer | options dnsmasq granted (OACK) | median s | min–max s | MB/s | speed-up vs default |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name in configs:
        med = statistics.median(times[name])
        oack = ", ".join(f"{k} {v}" for k, v in sorted(granted[name].items()) if k != "tsize") or "none"
        spread = f"{min(times[name]):.2f}–{max(times[name]):.2f}"
        lines.append(f"| TFTP, {name} | {oack} | {med:.2f} | {spread} | {mb / med:.0f} | {base / med:.2f}x |")
    med_http = statistics.median(http)
    lines.append(f"| HTTP (iPXE + wimboot path), nginx | — | {med_http:.2f} | "
                 f"{min(http):.2f}–{max(http):.2f} | {mb / med_http:.0f} | {base / med_http:.2f}x |")  # fmt: skip
    write_med, cp_med = statistics.median(write_times), statistics.median(cp_times)
    tuned = granted[f"tree's BCD: blksize {block}, windowsize {window}"]
    if "windowsize" in tuned:
        windowed = f"dnsmasq granted `windowsize {tuned['windowsize']}` (RFC 7440)."
    else:
        windowed = (f"dnsmasq grants `blksize` and `tsize` but does not implement RFC 7440 `windowsize`: the BCD's "
                    f"window of {window} is left out of the OACK and the transfer runs lock-step, so on dnsmasq "
                    f"the gain comes from the {block}-byte blocks alone.")  # fmt: skip
    big = granted["blksize 8192 (common guide value; needs jumbo frames on a LAN)"].get("blksize", "nothing")
    lines += [
        "",
        f"{windowed} On a {setup['mtu']}-byte link the 8192 request was granted {big}: dnsmasq caps blksize at "
        "the interface MTU minus 32 and at its packet buffer (2263 by default); a tree written with "
        "`--block-size 8192` raises `edns-packet-max` and is granted 8192 on a 9000-byte jumbo-frame link "
        "(tests/pxe/test_pxe_tftp.py). See docs/pxe.md.",
        "",
        f"Writing the tree (`write_pxe_tree`, {mb:.0f} MB boot.wim + boot files + 4 BCDs + configs): median "
        f"{write_med:.2f} s vs `cp` of the boot.wim alone {cp_med:.2f} s (ratio {write_med / cp_med:.2f}); "
        "the tree write also extracts Windows/Boot from the WIM, builds the stores and deletes the "
        "previous tree it replaces.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "docs" / "perf" / "pxe.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
