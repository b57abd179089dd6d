"""Benchmark: Authenticode verification, pebuild vs osslsigncode verify and sbverify on the same files.

A boot-manager-sized PE (2.5 MB, like bootmgfw.efi) and a small one (the sample's
stand-in), each signed by the sample's TEST chain; every tool runs >= 7 times as
a fresh process (what a user runs), medians and ratios go to docs/perf/secureboot.md.
pebuild's number is `pebuild check FILE-TREE --no-wims` on a directory holding only that
file (parse + digest + chain + verdicts), plus the in-process read_authenticode() time.

    .venv/bin/python bench/bench_secureboot.py [--runs 7] [--out docs/perf/secureboot.md]
"""

from __future__ import annotations

import argparse
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEBUILD = str(Path(sys.executable).parent / "pebuild")


def make_pe(size: int) -> bytes:
    from pebuild.pe.sign import Signer, sign_pe
    from pebuild.sample import testkeys
    from pebuild.sample.stubs._pe import PeImage, build_pe

    text = random.Random(size).randbytes(size)
    raw = build_pe(PeImage(arch="amd64", subsystem=10, text=text))
    leaf = "windows-2023-signer"
    return sign_pe(raw, Signer(testkeys.private_key(leaf), testkeys.signer_chain(leaf)))


def timed(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "perf" / "secureboot.md")
    args = parser.parse_args()
    from pebuild.pe import read_authenticode
    from pebuild.sample import testkeys

    osslsigncode, sbverify = shutil.which("osslsigncode"), shutil.which("sbverify")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ca = Path(tmp) / "ca.der"
        ca.write_bytes(testkeys.certificate("windows-uefi-ca-2023"))
        ca_pem = Path(tmp) / "ca.pem"
        subprocess.run(["openssl", "x509", "-inform", "der", "-in", str(ca), "-out", str(ca_pem)], check=True)
        root_pem = Path(tmp) / "root.pem"
        root = Path(tmp) / "root.der"
        root.write_bytes(testkeys.certificate("root-2010"))
        subprocess.run(
            ["openssl", "x509", "-inform", "der", "-in", str(root), "-out", str(root_pem)], check=True
        )
        for label, size in (("boot manager size, 2.5 MB", 2_500_000), ("sample stand-in, 4 KB", 2048)):
            d = Path(tmp) / f"m{size}" / "EFI" / "BOOT"
            d.mkdir(parents=True)
            f = d / "BOOTX64.EFI"
            f.write_bytes(make_pe(size))
            t0 = time.perf_counter()
            for _ in range(args.runs):
                read_authenticode(f)
            inproc = (time.perf_counter() - t0) / args.runs
            ours = timed([PEBUILD, "check", str(d.parent.parent), "--no-wims"], args.runs)
            ossl = (
                timed([osslsigncode, "verify", "-CAfile", str(root_pem), "-in", str(f)], args.runs)
                if osslsigncode
                else None
            )
            sbv = timed([sbverify, "--cert", str(ca_pem), str(f)], args.runs) if sbverify else None
            rows.append((label, ours, inproc, ossl, sbv))

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v * 1000:.1f} ms"

    def ratio(a: float, b: float | None) -> str:
        return "—" if b is None else f"{a / b:.2f}x"

    lines = [
        "## Secure Boot: Authenticode verification (bench/bench_secureboot.py)",
        "",
        f"Median of {args.runs} runs each, fresh processes; {platform.machine()}, Python {platform.python_version()}.",
        "`pebuild check` does more than the reference tools (finds the file, chain to known CAs, dbx",
        "lookups, three profile verdicts); the in-process column is `pebuild.pe.read_authenticode()` alone.",
        "",
        "| file | pebuild check | read_authenticode (in-process) | osslsigncode verify | sbverify | pebuild / osslsigncode | pebuild / sbverify |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, ours, inproc, ossl, sbv in rows:
        lines.append(
            f"| {label} | {fmt(ours)} | {fmt(inproc)} | {fmt(ossl)} | {fmt(sbv)} | {ratio(ours, ossl)} | {ratio(ours, sbv)} |"
        )
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
