"""Benchmark pebuild's WIM engine against wimlib-imagex on a WinPE-sized LZX WIM.

    .venv/bin/python bench/bench_wim.py [--files 8200] [--runs 5] [--out docs/perf/wim.md]

Builds a generated tree (>= 8,000 files, mixed sizes, ~70 MB), captures it
with `wimlib-imagex capture --compress=lzx`, then times, Python start-up
included (each command is a fresh process):

* `pebuild mount WIM DIR`            vs `wimlib-imagex apply WIM 1 DIR`
* `pebuild commit DIR` (5 added, 1 modified, 1 deleted file)
                                     vs `wimlib-imagex update WIM 1` told the same change
* `pebuild info WIM`                 (and `wimlib-imagex info WIM` for reference)

Prints medians and ratios and writes them as a markdown section.
"""

from __future__ import annotations

import argparse
import os
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
PEBUILD = [str(Path(sys.executable).parent / "pebuild")]
if not Path(PEBUILD[0]).exists():
    PEBUILD = [sys.executable, "-m", "pebuild"]
IMAGEX = shutil.which("wimlib-imagex") or "wimlib-imagex"
TARGETS = {"mount": 1.2, "commit": 1.3}


def corpus(rng: random.Random, size: int = 1 << 20) -> bytes:
    words = [bytes(rng.getrandbits(8) for _ in range(rng.randint(2, 10))) for _ in range(3000)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out)


def make_tree(root: Path, files: int, seed: int = 42) -> int:
    """A WinPE-shaped tree: many small DLL-like files, some medium, a few large."""
    rng = random.Random(seed)
    text = corpus(rng)
    total = 0
    dirs = [
        f"Windows/System32/{d}"
        for d in ("", "drivers", "en-US", "wbem", "config", "DriverStore/FileRepository")
    ]
    dirs += [f"Windows/WinSxS/x86_pkg_{i:03d}" for i in range(60)] + [
        f"Program Files/Tool{i}" for i in range(10)
    ]
    for i in range(files):
        r = rng.random()
        if r < 0.9:
            size = rng.randint(200, 8_000)
        elif r < 0.998:
            size = rng.randint(10_000, 50_000)
        else:
            size = rng.randint(500_000, 2_000_000)
        start = rng.randint(0, len(text) - 1)
        data = (text[start:] + text)[: min(size, len(text))]
        data = data * (size // max(1, len(data))) + data[: size % max(1, len(data))]
        path = root / rng.choice(dirs) / f"file{i:05d}.{rng.choice(['dll', 'sys', 'mui', 'exe', 'inf'])}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def run(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    return time.perf_counter() - t0


def median_of(fn, runs: int) -> tuple[float, list[float]]:
    times = [fn() for _ in range(runs)]
    return statistics.median(times), times


def paired(ours, ref, runs: int) -> tuple[float, list[float], float, list[float]]:
    """Alternate the two commands run by run, so load from other jobs hits both alike."""
    a: list[float] = []
    b: list[float] = []
    for _ in range(runs):
        a.append(ours())
        b.append(ref())
    return statistics.median(a), a, statistics.median(b), b


def change(root: Path, extra: Path) -> None:
    """The commit workload: 5 added, 1 modified, 1 deleted file."""
    for i in range(5):
        (root / f"Windows/System32/added{i}.dll").write_bytes((extra / f"add{i}.bin").read_bytes())
    (root / "Windows/System32/config/modified.dat").write_bytes((extra / "modified.bin").read_bytes())
    first = sorted((root / "Windows/System32/drivers").iterdir())[0]
    first.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=REPO / "docs/perf/wim.md")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-wim-", dir=args.workdir))
    # A normal install has bytecode caches; PYTHONDONTWRITEBYTECODE (set in some CI shells)
    # would make every pebuild run recompile its modules and measure the compiler instead.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_STATE_HOME"] = str(work / "state")
    subprocess.run(  # write the bytecode caches once, as an installed package has them
        [sys.executable, "-c", "import pebuild.cli, pebuild.cli.wim, pebuild.wim.mount"], env=env, check=True
    )
    try:
        tree = work / "tree"
        total = make_tree(tree, args.files)
        (tree / "Windows/System32/config/modified.dat").write_bytes(b"old content\r\n" * 1000)
        wim = work / "bench.wim"
        t_capture = run([IMAGEX, "capture", str(tree), str(wim), "WinPE", "--compress=lzx"])
        extra = work / "extra"
        extra.mkdir()
        rng = random.Random(7)
        text = corpus(rng, 1 << 18)
        for i in range(5):
            (extra / f"add{i}.bin").write_bytes(text[i * 1000 :] * 2)
        (extra / "modified.bin").write_bytes(b"new content\r\n" * 2000)
        print(
            f"tree: {args.files} files, {total / 1e6:.1f} MB; WIM {wim.stat().st_size / 1e6:.1f} MB "
            f"(wimlib-imagex capture {t_capture:.2f} s)"
        )

        # --- mount vs apply
        def pebuild_mount() -> float:
            d = work / "mnt"
            t = run([*PEBUILD, "mount", str(wim), str(d)], env=env)
            run([*PEBUILD, "discard", str(d)], env=env)
            return t

        def imagex_apply() -> float:
            d = work / "applied"
            t = run([IMAGEX, "apply", str(wim), "1", str(d)])
            shutil.rmtree(d)
            return t

        m_ours, m_ours_all, m_ref, m_ref_all = paired(pebuild_mount, imagex_apply, args.runs)

        # --- commit vs update (same change, fresh WIM copy each run)
        def pebuild_commit() -> float:
            copy = work / "commit.wim"
            shutil.copyfile(wim, copy)
            d = work / "cmnt"
            run([*PEBUILD, "mount", str(copy), str(d)], env=env)
            change(d, extra)
            t = run([*PEBUILD, "commit", str(d)], env=env)
            run([*PEBUILD, "discard", str(d)], env=env)
            return t

        deleted = sorted((tree / "Windows/System32/drivers").iterdir())[0].name
        commands = (
            "".join(f"add '{extra}/add{i}.bin' '/Windows/System32/added{i}.dll'\n" for i in range(5))
            + f"add '{extra}/modified.bin' '/Windows/System32/config/modified.dat'\n"
        )
        commands += f"delete '/Windows/System32/drivers/{deleted}'\n"

        def imagex_update() -> float:
            copy = work / "update.wim"
            shutil.copyfile(wim, copy)
            t0 = time.perf_counter()
            subprocess.run(
                [IMAGEX, "update", str(copy), "1"],
                input=commands.encode(),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            return time.perf_counter() - t0

        c_ours, c_ours_all, c_ref, c_ref_all = paired(pebuild_commit, imagex_update, args.runs)

        # --- info
        i_ours, i_ours_all = median_of(lambda: run([*PEBUILD, "info", str(wim)], env=env), max(args.runs, 7))
        i_ref, _ = median_of(lambda: run([IMAGEX, "info", str(wim)]), max(args.runs, 7))
        i_help, _ = median_of(lambda: run([*PEBUILD, "--help"], env=env), max(args.runs, 7))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [
        ("mount vs `wimlib-imagex apply`", m_ours, m_ref, TARGETS["mount"]),
        ("commit (5 add, 1 modify, 1 delete) vs `wimlib-imagex update`", c_ours, c_ref, TARGETS["commit"]),
    ]
    lines = [
        "## WIM engine (bench/bench_wim.py)",
        "",
        f"Tree: {args.files} generated files, {total / 1e6:.1f} MB, captured by `wimlib-imagex capture "
        f"--compress=lzx`. Medians of {args.runs} runs (info: {max(args.runs, 7)}), wall time, pebuild and "
        "the reference alternating run by run, every command a fresh process (Python start-up included), "
        "warm page cache and bytecode caches.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{subprocess.run([IMAGEX, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}; "
        "shared with other jobs while measured.",
        "",
        "| operation | pebuild | reference | ratio | target | met |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for name, ours, ref, target in rows:
        ratio = ours / ref
        lines.append(
            f"| {name} | {ours:.3f} s | {ref:.3f} s | {ratio:.2f}x | <= {target}x | "
            f"{'yes' if ratio <= target else 'no'} |"
        )
    lines.append(
        f"| `pebuild info` | {i_ours:.3f} s | {i_ref:.3f} s (`wimlib-imagex info`) | "
        f"{i_ours / i_ref:.2f}x | < 0.3 s | {'yes' if i_ours < 0.3 else 'no'} |"
    )
    lines.append(f"| `pebuild --help` (start-up floor) | {i_help:.3f} s | | | | |")
    lines += [
        "",
        "All runs (s): mount "
        + ", ".join(f"{t:.3f}" for t in m_ours_all)
        + "; apply "
        + ", ".join(f"{t:.3f}" for t in m_ref_all)
        + "; commit "
        + ", ".join(f"{t:.3f}" for t in c_ours_all)
        + "; update "
        + ", ".join(f"{t:.3f}" for t in c_ref_all)
        + "; info "
        + ", ".join(f"{t:.3f}" for t in i_ours_all)
        + ".",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
