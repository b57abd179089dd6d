"""Benchmark pebuild's WIM engine and start-up against wimlib-imagex on WinPE-sized LZX WIMs.

    .venv/bin/python bench/bench_wim.py [--files 8200] [--runs 7] [--scale-files 100000]
                                        [--baseline-src DIR] [--out docs/perf/wim.md]

Builds a generated tree (>= 8,000 files, mixed sizes, ~70 MB), captures it
with `wimlib-imagex capture --compress=lzx`, then times — every command a
fresh process, Python start-up included, pebuild and the reference
alternating run by run:

* `pebuild mount WIM DIR`            vs `wimlib-imagex apply WIM 1 DIR`
* `pebuild commit DIR` (5 added, 1 modified, 1 deleted file) at its default (fast) compression
  level and with `--compress-level 50` (libwim's default, `update`'s bytes)
                                     vs `wimlib-imagex update WIM 1` told the same change
* the size cost of the fast level: bytes each commit appends and the compressed size of the
  metadata resource it writes, at both levels and for `update`
* `pebuild commit DIR` with no change (finding nothing is the floor of every commit)
* start-up: `pebuild --help`, `pebuild info WIM`, `pebuild mounts` (vs `python -c pass`
  and `wimlib-imagex info`), and `python -X importtime -c "import pebuild.cli"`
* where a commit's time goes (bench/_commit_phases.py in a child process)
* the same commit on a 100,000-file image (small files), and the walk's cost per path
  at both sizes: it must scale linearly

Each commit run restores the WIM (mtime kept) and the mount state from a
snapshot taken after the edit, so every run commits the same change;
`wimlib-imagex update` gets a fresh copy of the same WIM. `--baseline-src`
runs the pebuild rows a second time with PYTHONPATH=DIR (e.g. an older
checkout's src/) in the same alternation: the before/after table.
Prints medians (and CPU user+sys, which load from other jobs disturbs less)
and writes them as a markdown section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEBUILD = [str(Path(sys.executable).parent / "pebuild")]
if not Path(PEBUILD[0]).exists():
    PEBUILD = [sys.executable, "-m", "pebuild"]
IMAGEX = shutil.which("wimlib-imagex") or "wimlib-imagex"
PHASES = REPO / "bench" / "_commit_phases.py"
TARGETS = {"mount": 1.2, "commit": 1.1}
LEVEL_50 = ["--compress-level", "50"]


def corpus(rng: random.Random, size: int = 1 << 20) -> bytes:
    words = [bytes(rng.getrandbits(8) for _ in range(rng.randint(2, 10))) for _ in range(3000)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out)


def make_tree(root: Path, files: int, seed: int = 42, *, small: bool = False) -> int:
    """A WinPE-shaped tree: many small DLL-like files, some medium, a few large.

    small: 100-2,000 bytes each in ~50 files per directory (the 100,000-file image,
    whose cost is its file count, not its bytes).
    """
    rng = random.Random(seed)
    text = corpus(rng)
    total = 0
    dirs = [
        f"Windows/System32/{d}"
        for d in ("", "drivers", "en-US", "wbem", "config", "DriverStore/FileRepository")
    ]
    sxs = max(60, files // 50) if small else 60
    dirs += [f"Windows/WinSxS/x86_pkg_{i:04d}" for i in range(sxs)] + [
        f"Program Files/Tool{i}" for i in range(10)
    ]
    for i in range(files):
        r = rng.random()
        if small:
            size = rng.randint(100, 2_000)
        elif r < 0.9:
            size = rng.randint(200, 8_000)
        elif r < 0.998:
            size = rng.randint(10_000, 50_000)
        else:
            size = rng.randint(500_000, 2_000_000)
        start = rng.randint(0, len(text) - 1)
        data = (text[start:] + text)[: min(size, len(text))]
        data = data * (size // max(1, len(data))) + data[: size % max(1, len(data))]
        path = root / rng.choice(dirs) / f"file{i:06d}.{rng.choice(['dll', 'sys', 'mui', 'exe', 'inf'])}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    (root / "Windows/System32/config/modified.dat").write_bytes(b"old content\r\n" * 1000)
    return total


def run(cmd: list[str], env: dict[str, str] | None = None, stdin: Path | None = None) -> tuple[float, float]:
    """Wall and CPU (user + sys, children included) seconds of one process."""
    with open(stdin or os.devnull, "rb") as fin:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdin=fin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err.strip()[-400:]}")
    return wall, usage.ru_utime + usage.ru_stime


class Series:
    """Wall and CPU times of one row, alternated with the other rows run by run."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def add(self, sample: tuple[float, float]) -> None:
        self.wall.append(sample[0])
        self.cpu.append(sample[1])

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def runs(self) -> str:
        return ", ".join(f"{t:.3f}" for t in self.wall)


def alternate(rows: dict[str, Callable[[], tuple[float, float]]], runs: int) -> dict[str, Series]:
    """Every row once per round, the order reversed every other round (ABBA).

    Reversing cancels what a row inherits from the one before it: a mount that
    follows the deletion of the previous tree of 8,200 files runs ~20% slower,
    whichever tool it is.
    """
    out = {name: Series() for name in rows}
    names = list(rows)
    for round_ in range(runs):
        for name in names if round_ % 2 == 0 else reversed(names):
            out[name].add(rows[name]())
    return out


def copy_synced(src: Path, dst: Path) -> None:
    """Copy (times kept) and fsync, so no run pays for another's write-back."""
    shutil.copy2(src, dst)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CommitBench:
    """One mounted, edited image whose commit can be replayed: the WIM and the state are restored."""

    def __init__(self, work: Path, wim: Path, name: str, env: dict[str, str], *, edit: bool) -> None:
        self.work, self.name = work, name
        self.state = work / f"state-{name}"
        self.env = dict(env, XDG_STATE_HOME=str(self.state))
        self.wim, self.dir = work / f"{name}.wim", work / f"mnt-{name}"
        copy_synced(wim, self.wim)
        run([*PEBUILD, "mount", str(self.wim), str(self.dir)], self.env)
        if edit:
            change(self.dir, work / "extra")
        self.snapshot = work / f"snap-{name}"
        shutil.copytree(self.state, self.snapshot / "state")
        shutil.copy2(self.wim, self.snapshot / "wim")

    def restore(self) -> None:
        shutil.rmtree(self.state)
        shutil.copytree(self.snapshot / "state", self.state)
        copy_synced(self.snapshot / "wim", self.wim)

    def commit(self, pythonpath: str | None = None, args: tuple[str, ...] = ()) -> tuple[float, float]:
        self.restore()
        env = dict(self.env, PYTHONPATH=pythonpath) if pythonpath else self.env
        return run([*PEBUILD, "commit", str(self.dir), *args], env)

    def appended(self, args: tuple[str, ...] = ()) -> tuple[int, int]:
        """(bytes one commit appends, compressed size of the metadata resource it writes)."""
        self.commit(args=args)
        return self.wim.stat().st_size - (self.snapshot / "wim").stat().st_size, metadata_size(self.wim)

    def phases(self, pythonpath: str | None = None, args: tuple[str, ...] = ()) -> dict[str, float]:
        """Where one commit's time goes (child process with timing wrappers)."""
        self.restore()
        env = dict(self.env, PYTHONPATH=pythonpath) if pythonpath else self.env
        out = self.work / "phases.json"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, str(PHASES), str(out), str(self.dir), *args],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - t0
        phases = json.loads(out.read_text())
        phases["interpreter start and exit"] = wall - sum(phases.values())
        return phases


def change(root: Path, extra: Path) -> None:
    """The commit workload: 5 added, 1 modified, 1 deleted file."""
    for i in range(5):
        (root / f"Windows/System32/added{i}.dll").write_bytes((extra / f"add{i}.bin").read_bytes())
    (root / "Windows/System32/config/modified.dat").write_bytes((extra / "modified.bin").read_bytes())
    first = sorted((root / "Windows/System32/drivers").iterdir())[0]
    first.unlink()


def update_commands(tree: Path, extra: Path, out: Path) -> Path:
    deleted = sorted((tree / "Windows/System32/drivers").iterdir())[0].name
    text = "".join(f"add '{extra}/add{i}.bin' '/Windows/System32/added{i}.dll'\n" for i in range(5))
    text += f"add '{extra}/modified.bin' '/Windows/System32/config/modified.dat'\n"
    text += f"delete '/Windows/System32/drivers/{deleted}'\n"
    out.write_text(text)
    return out


def imagex_update(wim: Path, work: Path, commands: Path) -> Callable[[], tuple[float, float]]:
    def once() -> tuple[float, float]:
        copy = work / "update.wim"
        copy_synced(wim, copy)
        return run([IMAGEX, "update", str(copy), "1"], stdin=commands)

    return once


def metadata_size(wim: Path) -> int:
    """Compressed size of the newest (highest offset) metadata resource, from `wimlib-imagex info --blobs`."""
    out = subprocess.run([IMAGEX, "info", str(wim), "--blobs"], capture_output=True, text=True, check=True)
    found = []
    for block in out.stdout.split("\n\n"):
        m = re.search(r"Compressed size\s+= (\d+) bytes.*?Offset in WIM\s+= (\d+) bytes", block, re.S)
        if m and "WIM_RESHDR_FLAG_METADATA" in block:
            found.append((int(m.group(2)), int(m.group(1))))
    return max(found)[1]


def sizes(bench: CommitBench, wim: Path, work: Path, commands: Path) -> dict[str, tuple[int, int]]:
    """What the commit appends at both levels and what `update` appends for the same change."""
    imagex_update(wim, work, commands)()
    copy = work / "update.wim"
    return {
        "pebuild commit (fast, level 20)": bench.appended(),
        "pebuild commit --compress-level 50": bench.appended(tuple(LEVEL_50)),
        "wimlib-imagex update": (copy.stat().st_size - wim.stat().st_size, metadata_size(copy)),
    }


def import_ms(env: dict[str, str], runs: int) -> float:
    """Median cumulative `-X importtime` of pebuild.cli (its own import, interpreter excluded)."""
    values = []
    for _ in range(runs):
        err = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import pebuild.cli"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        found = re.search(r"\|\s*(\d+)\s*\|\s*pebuild\.cli$", err, re.MULTILINE)
        if found is None:
            raise SystemExit(f"no importtime line for pebuild.cli: {err[-300:]}")
        values.append(int(found.group(1)) / 1000)
    return statistics.median(values)


def walk_us_per_path(root: Path, env: dict[str, str]) -> float:
    """The walk (scan_tree) alone, median of 5, in microseconds per path."""
    code = (
        "import statistics, sys, time\n"
        "from pebuild.wim.mount import scan_tree\n"
        "n = len(scan_tree(sys.argv[1])); ts = []\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); scan_tree(sys.argv[1]); ts.append(time.perf_counter() - t)\n"
        "print(statistics.median(ts) / n * 1e6)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-400:])
    return float(out.stdout)


def warm_bytecode(env: dict[str, str], pythonpath: str | None) -> None:
    """Write the bytecode caches once, as an installed package has them."""
    e = dict(env, PYTHONPATH=pythonpath) if pythonpath else env
    code = "import pebuild.cli, pebuild.cli.wim, pebuild.wim.mount, pebuild.wim.image"
    subprocess.run([sys.executable, "-c", code], env=e, check=True)


def median_phases(
    bench: CommitBench, runs: int, pythonpath: str | None = None, args: tuple[str, ...] = ()
) -> dict[str, float]:
    samples = [bench.phases(pythonpath, args) for _ in range(runs)]
    return {k: statistics.median(s.get(k, 0.0) for s in samples) for k in samples[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8200)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--scale-files", type=int, default=100_000, help="0: skip the big image")
    ap.add_argument("--scale-runs", type=int, default=3)
    ap.add_argument("--baseline-src", type=Path, help="also run pebuild from this src/ (before/after)")
    ap.add_argument("--out", type=Path, default=REPO / "docs/perf/wim.md")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    base = str(args.baseline_src.resolve()) if args.baseline_src else None

    work = Path(tempfile.mkdtemp(prefix="bench-wim-", dir=args.workdir))
    # A normal install has bytecode caches; PYTHONDONTWRITEBYTECODE (set in some CI shells)
    # would make every pebuild run recompile its modules and measure the compiler instead.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["XDG_STATE_HOME"] = str(work / "state")
    warm_bytecode(env, None)
    if base:
        warm_bytecode(env, base)
    try:
        r = measure(args, work, env, base)
    finally:
        for d in work.glob("mnt-*"):  # forget the bench's mounts (their state lives in work/)
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    text = report(args, r)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


def measure(args: argparse.Namespace, work: Path, env: dict[str, str], base: str | None) -> dict:
    r: dict = {"base": base}
    tree = work / "tree"
    r["bytes"] = make_tree(tree, args.files)
    wim = work / "bench.wim"
    r["capture"] = run([IMAGEX, "capture", str(tree), str(wim), "WinPE", "--compress=lzx"])[0]
    r["wim_mb"] = wim.stat().st_size / 1e6
    extra = work / "extra"
    extra.mkdir()
    text = corpus(random.Random(7), 1 << 18)
    for i in range(5):
        (extra / f"add{i}.bin").write_bytes(text[i * 1000 :] * 2)
    (extra / "modified.bin").write_bytes(b"new content\r\n" * 2000)
    print(f"tree: {args.files} files, {r['bytes'] / 1e6:.1f} MB; WIM {r['wim_mb']:.1f} MB", flush=True)

    def pebuild_mount() -> tuple[float, float]:
        d = work / "mnt-timed"
        os.sync()  # untimed: no run pays for the write-back of the previous run's tree
        t = run([*PEBUILD, "mount", str(wim), str(d)], env)
        run([*PEBUILD, "discard", str(d)], env)
        return t

    def imagex_apply() -> tuple[float, float]:
        d = work / "applied"
        os.sync()
        t = run([IMAGEX, "apply", str(wim), "1", str(d)])
        shutil.rmtree(d)
        return t

    r["mount"] = alternate({"pebuild mount": pebuild_mount, "wimlib-imagex apply": imagex_apply}, args.runs)
    print("mount done", flush=True)

    edit = CommitBench(work, wim, "edit", env, edit=True)
    idle = CommitBench(work, wim, "idle", env, edit=False)
    commands = update_commands(tree, extra, work / "commands.txt")
    rows: dict[str, Callable[[], tuple[float, float]]] = {
        "pebuild commit": edit.commit,
        "pebuild commit --compress-level 50": lambda: edit.commit(args=tuple(LEVEL_50)),
        "wimlib-imagex update": imagex_update(wim, work, commands),
        "pebuild commit, no change": idle.commit,
    }
    if base:
        rows["before: pebuild commit"] = lambda: edit.commit(base)
        rows["before: pebuild commit, no change"] = lambda: idle.commit(base)
    r["commit"] = alternate(rows, args.runs)
    r["sizes"] = sizes(edit, wim, work, commands)
    print("commit done", flush=True)

    edit.restore()  # `pebuild mounts` lists one mount
    start_env = edit.env
    py = [sys.executable, "-c", "pass"]
    starts: dict[str, Callable[[], tuple[float, float]]] = {
        "`python -c pass` (interpreter floor)": lambda: run(py, start_env),
        "`pebuild --help`": lambda: run([*PEBUILD, "--help"], start_env),
        "`pebuild info WIM`": lambda: run([*PEBUILD, "info", str(wim)], start_env),
        "`pebuild mounts` (one mount)": lambda: run([*PEBUILD, "mounts"], start_env),
        "`wimlib-imagex info WIM`": lambda: run([IMAGEX, "info", str(wim)]),
    }
    if base:
        benv = dict(start_env, PYTHONPATH=base)
        starts["before: `pebuild --help`"] = lambda: run([*PEBUILD, "--help"], benv)
        starts["before: `pebuild info WIM`"] = lambda: run([*PEBUILD, "info", str(wim)], benv)
        starts["before: `pebuild mounts` (one mount)"] = lambda: run([*PEBUILD, "mounts"], benv)
    r["start"] = alternate(starts, max(args.runs, 11))
    r["import_ms"] = import_ms(env, 11)
    r["import_ms_before"] = import_ms(dict(env, PYTHONPATH=base), 11) if base else None
    r["phases"] = median_phases(edit, 5)
    r["phases_50"] = median_phases(edit, 5, args=tuple(LEVEL_50))
    r["phases_before"] = median_phases(edit, 5, base) if base else None
    r["walk_small"] = walk_us_per_path(edit.dir, env)
    print("start-up and phases done", flush=True)

    if args.scale_files:
        stree = work / "scale-tree"
        r["scale_bytes"] = make_tree(stree, args.scale_files, seed=43, small=True)
        swim = work / "scale-source.wim"
        run([IMAGEX, "capture", str(stree), str(swim), "WinPE", "--compress=lzx"])
        r["scale_wim_mb"] = swim.stat().st_size / 1e6
        sedit = CommitBench(work, swim, "scale", env, edit=True)
        sidle = CommitBench(work, swim, "scale-idle", env, edit=False)
        scommands = update_commands(stree, extra, work / "scale-commands.txt")
        shutil.rmtree(stree)
        r["scale"] = alternate(
            {
                "pebuild commit": sedit.commit,
                "pebuild commit --compress-level 50": lambda: sedit.commit(args=tuple(LEVEL_50)),
                "wimlib-imagex update": imagex_update(swim, work, scommands),
                "pebuild commit, no change": sidle.commit,
            },
            args.scale_runs,
        )
        r["scale_sizes"] = sizes(sedit, swim, work, scommands)
        r["walk_big"] = walk_us_per_path(sedit.dir, env)
        r["scale_phases"] = median_phases(sedit, args.scale_runs)
        r["scale_phases_50"] = median_phases(sedit, args.scale_runs, args=tuple(LEVEL_50))
        print("scale done", flush=True)
    return r


def _ratio_row(name: str, ours: Series, ref: Series, target: float | None) -> str:
    ratio, cpu = ours.median / ref.median, ours.cpu_median / ref.cpu_median
    best = min(ours.wall) / min(ref.wall)
    met = "" if target is None else ("yes" if ratio <= target else "**no**")
    goal = "" if target is None else f"<= {target}x"
    return (
        f"| {name} | {ours.median:.3f} s | {ref.median:.3f} s | {ratio:.2f}x | {best:.2f}x | {cpu:.2f}x "
        f"| {goal} | {met} |"
    )


def _phase_table(columns: dict[str, dict[str, float]]) -> list[str]:
    """One row per phase, one column per commit variant (ms)."""
    lines = ["| phase |" + "".join(f" {name}, ms |" for name in columns), "|---|" + "---:|" * len(columns)]
    names = list(dict.fromkeys(k for phases in columns.values() for k in phases))
    for name in names:
        lines.append(f"| {name} |" + "".join(f" {1000 * p.get(name, 0.0):.1f} |" for p in columns.values()))
    lines.append("| **total** |" + "".join(f" {1000 * sum(p.values()):.1f} |" for p in columns.values()))
    return lines


def _libwim_floor(phases: dict[str, float], update: Series, level: str) -> str:
    """How much of the reference's time libwim's two calls alone take inside pebuild."""
    libwim = phases["wimlib_update_image"] + phases["wimlib_overwrite (append)"]
    return (
        f"{level}: libwim's two calls (wimlib_update_image + wimlib_overwrite) take {1000 * libwim:.0f} ms "
        f"inside pebuild, {libwim / update.median:.2f}x the median `wimlib-imagex update` process "
        f"({1000 * update.median:.0f} ms), which makes the same two calls at level 50."
    )


def _size_table(sizes: dict[str, tuple[int, int]]) -> list[str]:
    ref_appended, ref_meta = sizes["pebuild commit --compress-level 50"]
    lines = [
        "| writer | bytes appended | vs level 50 | metadata resource (compressed) | vs level 50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (appended, meta) in sizes.items():
        lines.append(
            f"| {name} | {appended:,} | {100 * (appended / ref_appended - 1):+.2f}% | {meta:,} "
            f"| {100 * (meta / ref_meta - 1):+.2f}% |"
        )
    return lines


def _phase_columns(r: dict, key: str) -> dict[str, dict[str, float]]:
    cols = {"default (level 20)": r[key], "--compress-level 50": r[f"{key}_50"]}
    if r.get(f"{key}_before"):
        cols["before"] = r[f"{key}_before"]
    return cols


def report(args: argparse.Namespace, r: dict) -> str:
    m, c, s = r["mount"], r["commit"], r["start"]
    version = subprocess.run([IMAGEX, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    lines = [
        "## WIM engine and start-up (bench/bench_wim.py)",
        "",
        f"Measured {time.strftime('%Y-%m-%d', time.gmtime())}. Tree: {args.files} generated files, "
        f"{r['bytes'] / 1e6:.1f} MB, captured by `wimlib-imagex capture --compress=lzx` "
        f"({r['wim_mb']:.1f} MB). Medians of {args.runs} runs (start-up: {max(args.runs, 11)}), wall time, "
        "pebuild and the reference alternating run by run (the order reversed every other round), every command a fresh process (Python "
        "start-up included), warm page cache and bytecode caches. Each commit run restores the WIM and "
        "the mount state from a snapshot, so every run commits the same change; `wimlib-imagex update` "
        "gets a fresh copy of the same WIM and the same change as a command file. Ratio: of the medians "
        "(the target's measure); best-of-runs: of the fastest run of each; CPU ratio: of the median user + "
        "system times. The last two are disturbed less by load from other jobs.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{version}; shared with other jobs while measured.",
        "",
        "| operation | pebuild | reference | ratio | best-of-runs ratio | CPU ratio | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
        _ratio_row(
            "mount vs `wimlib-imagex apply`", m["pebuild mount"], m["wimlib-imagex apply"], TARGETS["mount"]
        ),
        _ratio_row(
            "commit (5 add, 1 modify, 1 delete; default level 20) vs `wimlib-imagex update`",
            c["pebuild commit"],
            c["wimlib-imagex update"],
            TARGETS["commit"],
        ),
        _ratio_row(
            "the same commit with `--compress-level 50` (update's bytes) vs `update`",
            c["pebuild commit --compress-level 50"],
            c["wimlib-imagex update"],
            TARGETS["commit"],
        ),
        _ratio_row(
            "commit with no change (vs the same `update`)",
            c["pebuild commit, no change"],
            c["wimlib-imagex update"],
            None,
        ),
    ]
    if "scale" in r:
        sc = r["scale"]
        lines += [
            _ratio_row(
                f"{args.scale_files:,}-file image: commit (same change, level 20) vs `update`",
                sc["pebuild commit"],
                sc["wimlib-imagex update"],
                TARGETS["commit"],
            ),
            _ratio_row(
                f"{args.scale_files:,}-file image: commit `--compress-level 50` vs `update`",
                sc["pebuild commit --compress-level 50"],
                sc["wimlib-imagex update"],
                TARGETS["commit"],
            ),
            _ratio_row(
                f"{args.scale_files:,}-file image: commit with no change",
                sc["pebuild commit, no change"],
                sc["wimlib-imagex update"],
                None,
            ),
        ]
    floor = s["`python -c pass` (interpreter floor)"].median
    lines += [
        "",
        "Start-up (no TTY, so no progress bar):",
        "",
        "| command | median wall | above `python -c pass` |",
        "|---|---:|---:|",
    ]
    for name, series in s.items():
        lines.append(f"| {name} | {1000 * series.median:.1f} ms | {1000 * (series.median - floor):+.1f} ms |")
    before = f" (before: {r['import_ms_before']:.1f} ms)" if r["import_ms_before"] is not None else ""
    lines += [
        "",
        f'`python -X importtime -c "import pebuild.cli"`: pebuild.cli\'s cumulative import '
        f"{r['import_ms']:.1f} ms{before}, median of 11 (click is most of it).",
        "",
        "What the fast default costs in size: bytes one commit of the change appends to the WIM, and the "
        "compressed size of the metadata resource it writes (`wimlib-imagex info --blobs`; the new file "
        f"data is the same few KB either way). {args.files:,}-file image:",
        "",
        *_size_table(r["sizes"]),
        "",
        f"Where one commit's time goes ({args.files:,} files; bench/_commit_phases.py wraps the steps of "
        "`pebuild commit` in a child process; each phase is the median of 5 runs), at the default level "
        "and with `--compress-level 50`:",
        "",
        *_phase_table(_phase_columns(r, "phases")),
        "",
        _libwim_floor(r["phases"], c["wimlib-imagex update"], "Level 20"),
        _libwim_floor(r["phases_50"], c["wimlib-imagex update"], "Level 50"),
    ]
    if "scale" in r:
        lines += [
            "",
            f"The same on the {args.scale_files:,}-file image ({r['scale_bytes'] / 1e6:.0f} MB of small files, "
            f"WIM {r['scale_wim_mb']:.0f} MB), medians of {args.scale_runs}. Size:",
            "",
            *_size_table(r["scale_sizes"]),
            "",
            "Phases:",
            "",
            *_phase_table(_phase_columns(r, "scale_phases")),
            "",
            _libwim_floor(r["scale_phases"], r["scale"]["wimlib-imagex update"], "Level 20"),
            _libwim_floor(r["scale_phases_50"], r["scale"]["wimlib-imagex update"], "Level 50"),
            "",
            f"The walk alone (`scan_tree`, in-process, median of 5): {r['walk_small']:.2f} us per path at "
            f"{args.files:,} files, {r['walk_big']:.2f} us per path at {args.scale_files:,} "
            f"({args.scale_files / args.files:.0f}x the paths, {r['walk_big'] / r['walk_small']:.2f}x the cost "
            "per path).",
        ]
    if r["base"]:
        lines += [
            "",
            "Before/after (before = the pebuild source given as `--baseline-src`, run in the same "
            "alternation):",
            "",
            "| command | before | after | after / before (medians) | median of the rounds' after / before |",
            "|---|---:|---:|---:|---:|",
        ]
        pairs = [(c, "pebuild commit"), (c, "pebuild commit, no change")]
        pairs += [(s, k) for k in ("`pebuild --help`", "`pebuild info WIM`", "`pebuild mounts` (one mount)")]
        for table, key in pairs:
            old, new = table[f"before: {key}"], table[key]
            paired = statistics.median(a / b for a, b in zip(new.wall, old.wall, strict=True))
            lines.append(
                f"| {key} | {old.median:.3f} s | {new.median:.3f} s | {new.median / old.median:.2f}x "
                f"| {paired:.2f}x |"
            )
        lines += [
            "",
            "Before and after run back to back in every round, so the last column (each round's ratio, "
            "then their median) is the one drifting load from other jobs disturbs least.",
        ]
    lines += ["", "All runs (s):"]
    for group in (m, c, *([r["scale"]] if "scale" in r else [])):
        for name, series in group.items():
            lines.append(f"- {name}: {series.runs()}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
