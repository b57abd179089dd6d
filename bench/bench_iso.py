"""Benchmark `pebuild iso` against xorriso -as mkisofs and genisoimage -udf on the same trees.

Two trees: a WinPE-sized one (a 400 MB stand-in for boot.wim + ~300 small
files) and 5,000 small files. Every tool gets equivalent options (level 3,
Joliet, a BIOS no-emulation entry of 8 sectors + an EFI entry; UDF where the
tool has it) and runs N times in alternation; medians, ratios and the peak RSS
of each child (wait4 ru_maxrss) are written to docs/perf/iso.md.
Run: .venv/bin/python bench/bench_iso.py [--runs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEBUILD = [str(Path(sys.executable).parent / "pebuild")]
XORRISO = "xorriso -as mkisofs (no UDF)"
GENISOIMAGE = "genisoimage -udf"
GENISO_SYNC = "genisoimage -udf && sync"
GENISO_SHA256SUM = "genisoimage -udf && sync && sha256sum"
GENISO_HASHLIB = "genisoimage -udf && sync && python hashlib.sha256"
#: the reference's hash step with the SHA-256 code pebuild uses (hashlib, i.e. OpenSSL), same 1 MiB reads
HASHLIB = (
    "import hashlib, sys\n"
    "h = hashlib.sha256()\n"
    "with open(sys.argv[1], 'rb') as fh:\n"
    "    while chunk := fh.read(1 << 20):\n"
    "        h.update(chunk)\n"
    "print(h.hexdigest())\n"
)


def make_winpe_tree(root: Path, rng: random.Random) -> None:
    (root / "sources").mkdir(parents=True)
    with open(root / "sources" / "boot.wim", "wb") as fh:
        for _ in range(400):
            fh.write(rng.randbytes(1 << 20))
    dirs = [
        "boot",
        "boot/fonts",
        "boot/resources",
        "EFI/Microsoft/Boot",
        "EFI/Microsoft/Boot/Fonts",
        "EFI/Boot",
    ]
    dirs += [f"boot/{lang}" for lang in ("en-us", "de-de", "fr-fr", "ja-jp", "zh-cn", "es-es", "it-it")]
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(300):
        d = dirs[i % len(dirs)]
        (root / d / f"file{i:03d}.mui").write_bytes(rng.randbytes(rng.randint(512, 200_000)))
    (root / "bootmgr").write_bytes(rng.randbytes(400_000))
    (root / "bootmgr.efi").write_bytes(rng.randbytes(1_400_000))


def make_small_tree(root: Path, rng: random.Random) -> None:
    for i in range(5000):
        d = root / f"dir{i // 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"small file {i:04d}.txt").write_bytes(rng.randbytes(rng.randint(100, 8000)))


def make_boot(fw: Path) -> None:
    from pebuild.fat import efisys_image
    from pebuild.sample.stubs import bios_program, efi_program

    fw.mkdir()
    (fw / "etfsboot.com").write_bytes(bios_program("PEBUILD-SAMPLE etfsboot.com", size=4096))
    (fw / "efisys.bin").write_bytes(
        efisys_image({"EFI/BOOT/BOOTX64.EFI": efi_program("PEBUILD-SAMPLE bootx64.efi")})
    )


def commands(media: Path, fw: Path, out: Path) -> dict[str, list[str]]:
    graft = [
        "-graft-points",
        f"/={media}",
        f"/fw/etfsboot.com={fw / 'etfsboot.com'}",
        f"/fw/efisys.bin={fw / 'efisys.bin'}",
    ]
    boot = [
        "-b",
        "fw/etfsboot.com",
        "-no-emul-boot",
        "-boot-load-size",
        "8",
        "-eltorito-alt-boot",
        "-e",
        "fw/efisys.bin",
        "-no-emul-boot",
    ]
    xorriso = [
        "xorriso",
        "-as",
        "mkisofs",
        "-quiet",
        "-iso-level",
        "3",
        "-J",
        "-joliet-long",
        "-V",
        "WINPE",
        "-o",
        str(out),
        *boot,
        *graft,
    ]
    genisoimage = [
        "genisoimage",
        "-quiet",
        "-udf",
        "-iso-level",
        "3",
        "-J",
        "-joliet-long",
        "-allow-limited-size",
        "-V",
        "WINPE",
        "-o",
        str(out),
        *boot,
        *graft,
    ]
    pebuild = [
        *PEBUILD,
        "-q",
        "iso",
        str(media),
        str(out),
        "--bios",
        str(fw / "etfsboot.com"),
        "--uefi",
        str(fw / "efisys.bin"),
        "--label",
        "WINPE",
    ]
    quoted = shlex.quote(str(out))
    synced = f" && sync {quoted}"  # coreutils sync with a FILE fsyncs that file, as pebuild does
    coreutils = f"{synced} && sha256sum {quoted} >/dev/null"
    hashlib_sum = f"{synced} && {shlex.quote(sys.executable)} -c {shlex.quote(HASHLIB)} {quoted} >/dev/null"
    return {
        "pebuild iso": pebuild,
        "pebuild iso --no-udf": [*pebuild, "--no-udf"],
        XORRISO: xorriso,
        GENISOIMAGE: genisoimage,
        "xorriso && sync && sha256sum": ["sh", "-c", shlex.join(xorriso) + coreutils],
        GENISO_SYNC: ["sh", "-c", shlex.join(genisoimage) + synced],
        GENISO_SHA256SUM: ["sh", "-c", shlex.join(genisoimage) + coreutils],
        GENISO_HASHLIB: ["sh", "-c", shlex.join(genisoimage) + hashlib_sum],
    }


def run_once(cmd: list[str], out: Path) -> tuple[float, int, float]:
    out.unlink(missing_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd[0]} failed: {stderr.strip()[-500:]}")
    return elapsed, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime  # s, MiB, CPU s


def bench_tree(name: str, media: Path, fw: Path, work: Path, runs: int) -> list[dict[str, object]]:
    out = work / "out.iso"
    cmds = commands(media, fw, out)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    rss: dict[str, int] = dict.fromkeys(cmds, 0)
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    sizes: dict[str, int] = {}
    for cmd in cmds.values():  # warm-up: page cache, imports
        run_once(cmd, out)
    for _ in range(runs):
        for k, cmd in cmds.items():
            t, m, c = run_once(cmd, out)
            times[k].append(t)
            cpu[k].append(c)
            rss[k] = max(rss[k], m)
            sizes[k] = out.stat().st_size
    out.unlink(missing_ok=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for k in cmds:
        rows.append(
            {
                "tree": name,
                "tool": k,
                "median_s": med[k],
                "runs": ", ".join(f"{t:.2f}" for t in times[k]),
                "vs_xorriso": med[k] / med[XORRISO],
                "vs_genisoimage": med[k] / med[GENISOIMAGE],
                "vs_genisoimage_fair": med[k] / med[GENISO_HASHLIB],
                "rss_mib": rss[k],
                "cpu_s": statistics.median(cpu[k]),
                "iso_mib": sizes[k] / 2**20,
            }
        )
        print(
            f"{name:>14} {k:32} median {med[k]:7.2f} s  rss {rss[k]:5d} MiB  runs [{rows[-1]['runs']}]",
            flush=True,
        )
    return rows


def tool_versions() -> str:
    from importlib.metadata import version

    import pycdlib  # noqa: F401

    xo = subprocess.run(["xorriso", "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    gi = (
        subprocess.run(["genisoimage", "--version"], capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[0]
    )
    return f"pycdlib {version('pycdlib')}; {xo}; {gi}; Python {platform.python_version()}"


def write_report(rows: list[dict[str, object]], runs: int, versions: str) -> str:
    first = {r["tool"]: float(r["median_s"]) for r in rows if r["tree"] == rows[0]["tree"]}
    synced = first[GENISO_SYNC]
    slow = (first[GENISO_SHA256SUM] - synced) / max(first[GENISO_HASHLIB] - synced, 1e-9)
    lines = [
        "## ISO writer (`pebuild iso`) vs xorriso and genisoimage",
        "",
        f"Measured by `bench/bench_iso.py` on {time.strftime('%Y-%m-%d', time.gmtime())}: {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}; {versions}. Medians of {runs} runs after one warm-up run, "
        "tools alternating, page cache warm, output on the same disk. The machine was shared with other "
        "helpers' builds and tests while this ran, so absolute times are noisy; the ratios come from the same run.",
        "",
        "Options: level 3, Joliet, BIOS no-emulation entry (8 sectors) + EFI entry for every tool; "
        "pebuild and genisoimage add UDF (xorriso has none). Peak RSS is the child's ru_maxrss. "
        "CPU is user + system time of the child (and its children); the gap between CPU and wall time is "
        "mostly waiting for the disk, which other helpers' jobs shared.",
        "",
        "Which is which: `pebuild iso` always fsyncs its output before the rename (atomic_output) and "
        "computes the SHA-256 it returns in IsoResult (hashlib, i.e. OpenSSL's SHA-256, on the bytes as "
        "they are written). The bare `xorriso` and `genisoimage` rows do neither. `&& sync` adds the "
        "fsync (`sync FILE`, which fsyncs that one file; a bare `sync` would also flush other jobs' "
        f"data). `&& sha256sum` re-reads the ISO with coreutils' SHA-256, whose part took {slow:.1f}x as "
        "long as OpenSSL's on the WinPE ISO in this run (Debian's coreutils is not built with OpenSSL "
        "and does not use the CPU's SHA instructions); `&& python hashlib.sha256` re-reads it with the "
        "same SHA-256 code as pebuild (a `python -c` of hashlib, 1 MiB reads). So the fair "
        "reference — same guarantees, same hash code — is "
        f"`{GENISO_HASHLIB}`; the `vs fair genisoimage` column divides by it, `vs genisoimage` by the "
        "bare tool.",
        "",
        "| tree | tool | median s | vs xorriso | vs genisoimage | vs fair genisoimage | median CPU s "
        "| peak RSS MiB | ISO MiB | runs (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tree']} | {r['tool']} | {r['median_s']:.2f} | {r['vs_xorriso']:.2f}x | "
            f"{r['vs_genisoimage']:.2f}x | {r['vs_genisoimage_fair']:.2f}x | {r['cpu_s']:.2f} | {r['rss_mib']} "
            f"| {r['iso_mib']:.1f} | {r['runs']} |"
        )
    lines += ["", "Targets (issue 4), as measured in this run:", ""]
    by = {(r["tree"], r["tool"]): r for r in rows}
    winpe, small = rows[0]["tree"], rows[len(rows) // 2]["tree"]
    pe = by[(winpe, "pebuild iso")]
    sha = float(pe["median_s"]) / float(by[(winpe, GENISO_SHA256SUM)]["median_s"])
    checks = [
        (
            f"WinPE tree: pebuild / xorriso = {pe['vs_xorriso']:.2f}x",
            float(pe["vs_xorriso"]) <= 1.0,
            "<= 1.0x",
        ),
        (
            f"WinPE tree: pebuild / bare genisoimage (no fsync, no hash) = {pe['vs_genisoimage']:.2f}x",
            float(pe["vs_genisoimage"]) <= 2.0,
            "<= 2x",
        ),
        (
            f"WinPE tree: pebuild / `{GENISO_HASHLIB}` (fair: same guarantees, same SHA-256 code) = "
            f"{pe['vs_genisoimage_fair']:.2f}x",
            float(pe["vs_genisoimage_fair"]) <= 2.0,
            "<= 2x",
        ),
        (
            f"WinPE tree: pebuild / `{GENISO_SHA256SUM}` (as the issue wrote it; coreutils' slower "
            f"SHA-256) = {sha:.2f}x",
            sha <= 2.0,
            "<= 2x",
        ),
        (
            f"5,000 files: pebuild / xorriso = {by[(small, 'pebuild iso')]['vs_xorriso']:.2f}x",
            float(by[(small, "pebuild iso")]["vs_xorriso"]) <= 4.0,
            "<= 4x",
        ),
        (
            f"peak RSS of pebuild = {max(int(r['rss_mib']) for r in rows if str(r['tool']).startswith('pebuild'))} MiB",
            max(int(r["rss_mib"]) for r in rows if str(r["tool"]).startswith("pebuild")) <= 95,
            "<= 100 MB",
        ),
    ]
    for text, ok, target in checks:
        lines.append(f"- {text} (target {target}): {'met' if ok else '**missed**'}")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="keep the generated trees here")
    ap.add_argument("--no-write", action="store_true", help="do not write docs/perf/iso.md")
    args = ap.parse_args()
    for tool, package in (("xorriso", "xorriso"), ("genisoimage", "genisoimage")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not installed (Debian package {package})")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-iso-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rng = random.Random(4)
        if not (work / "winpe").exists():
            make_winpe_tree(work / "winpe", rng)
            make_small_tree(work / "small", rng)
            make_boot(work / "fw")
        rows = bench_tree("WinPE (400 MB + 302 files)", work / "winpe", work / "fw", work, args.runs)
        rows += bench_tree("5,000 small files", work / "small", work / "fw", work, args.runs)
        report = write_report(rows, args.runs, tool_versions())
        print(report)
        if not args.no_write:
            (ROOT / "docs" / "perf").mkdir(parents=True, exist_ok=True)
            (ROOT / "docs" / "perf" / "iso.md").write_text(report)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
