"""Benchmark the hive engine against hivex (hivexsh) on the same data, in one run.

1. Each BCD fixture: parse + rewrite (compact and preserve) vs `hivexsh -w` commit.
2. A generated ~30 MB hive with 200k keys: open, change one value, save (preserve mode;
   target < 2 s) vs hivexsh doing the same; plus a full compact rewrite.
3. A full walk -- every key, every value's name, type and data -- of the real 15 MB
   SYSTEM hive (regipy's SYSTEM_WIN_10_1709) vs `hivexml` on the same file (target:
   within 2x), plus the structural check run before every write and a log replay.

CPU-time medians for 3 (the machine is shared; wall time is printed too), wall-time
medians of >= 5 runs elsewhere. Writes docs/perf/hive.md. Run: .venv/bin/python bench/bench_hive.py
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from pebuild.hive import Hive, RegType, check_image, save_hive, serialize_hive  # noqa: E402
from pebuild.hive.log import LogFile, recover  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures" / "bcd"
HIVES = REPO.parent / "shared" / "fixtures" / "hives"
SYSTEM = HIVES / "regipy-SYSTEM_WIN_10_1709"  # 15.5 MB, 43k keys, 90k values (dirty, no logs)
RUNS = 5
BIG_GROUPS, BIG_KEYS = 200, 1000


def median_ms(fn: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def full_walk(path: Path) -> tuple[int, int]:
    """Read every key and every value's name, type and data (what hivexml prints)."""
    hive = Hive.open(path, allow_dirty=True)
    keys = values = 0
    for key in hive.root.walk():
        keys += 1
        for value in key.values:
            value.name, value.type, value.data  # noqa: B018
            values += 1
    return keys, values


def walk_rows(runs: int = 7) -> list[str]:
    """Interleaved pebuild walk / hivexml runs; CPU-time medians (ours: process, hivexml: child)."""
    if not SYSTEM.is_file() or shutil.which("hivexml") is None:
        return ["(skipped: needs ../shared/fixtures/hives and hivexml)"]
    ours_cpu, ours_wall, ref_cpu, ref_wall, checks = [], [], [], [], []
    keys = values = 0
    for _ in range(runs):
        cpu, wall = time.process_time(), time.perf_counter()
        keys, values = full_walk(SYSTEM)
        ours_cpu.append(time.process_time() - cpu)
        ours_wall.append(time.perf_counter() - wall)
        cpu, wall = _children_cpu(), time.perf_counter()
        subprocess.run(["hivexml", str(SYSTEM)], stdout=subprocess.DEVNULL, check=True)
        ref_cpu.append(_children_cpu() - cpu)
        ref_wall.append(time.perf_counter() - wall)
        image = Hive.open(SYSTEM, allow_dirty=True)._image
        cpu = time.process_time()
        check_image(image)  # type: ignore[arg-type]
        checks.append(time.process_time() - cpu)
    med = statistics.median
    ratio = med(ours_cpu) / med(ref_cpu)
    rows = [
        f"Full walk of {SYSTEM.name} ({SYSTEM.stat().st_size / 1e6:.1f} MB, {keys} keys, {values} values), "
        f"medians of {runs} interleaved runs:",
        "",
        "| operation | pebuild CPU (ms) | hivexml CPU (ms) | ratio | pebuild wall (ms) | hivexml wall (ms) |",
        "|---|---|---|---|---|---|",
        f"| open + every key + every value | {med(ours_cpu) * 1000:.0f} | {med(ref_cpu) * 1000:.0f} | "
        f"{ratio:.2f} | {med(ours_wall) * 1000:.0f} | {med(ref_wall) * 1000:.0f} |",
        f"| structural check before a write (check.py) | {med(checks) * 1000:.0f} | | | | |",
    ]
    replay = _replay_row()
    if replay:
        rows.append(replay)
    rows += [
        "",
        f"Target for the full walk: within 2x of hivex -> {'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x).",
    ]
    return rows


def _replay_row() -> str | None:
    import lzma

    hive = HIVES / "regipy-SYSTEM_B"
    logs = [HIVES / "regipy-SYSTEM_B.LOG1.xz", HIVES / "regipy-SYSTEM_B.LOG2.xz"]
    if not hive.is_file() or not all(p.is_file() for p in logs):
        return None
    data = hive.read_bytes()
    files = [LogFile(p.name[:-3], lzma.decompress(p.read_bytes())) for p in logs]
    times = []
    for _ in range(5):
        cpu = time.process_time()
        _data, replay = recover(data, files)
        times.append(time.process_time() - cpu)
    assert replay is not None and replay.pages == 315
    return (
        f"| replay SYSTEM_B's LOG1+LOG2 (24 HvLE entries, 315 pages, Marvin32 checked) | "
        f"{statistics.median(times) * 1000:.0f} | | | | |"
    )


def hivexsh(hive: Path, script: str, script_path: Path) -> None:
    script_path.write_text(script)
    subprocess.run(["hivexsh", "-w", "-f", str(script_path), str(hive)], check=True, capture_output=True)


def make_big_hive(path: Path) -> None:
    hive = Hive.new("ROOT", minor=5)
    for i in range(BIG_GROUPS):
        group = hive.root.create(f"Group{i:03d}")
        for j in range(BIG_KEYS):
            key = group.create(f"Key{j:04d}")
            key.set_value("Index", RegType.DWORD, j)
            if j % 2 == 0:
                key.set_value("Name", RegType.SZ, f"key {i}.{j}")
    save_hive(hive, path, timestamp=0)


def main() -> None:
    have_hivex = shutil.which("hivexsh") is not None
    walk = walk_rows()
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-hive-") as tmp:
        out = Path(tmp) / "out.hive"
        script = Path(tmp) / "hivexsh-script"
        for fixture in sorted(FIXTURES.glob("*.bcd")):
            data = fixture.read_bytes()
            compact = median_ms(
                lambda data=data: serialize_hive(Hive.parse(data), "compact", timestamp=0), runs=21
            )
            preserve = median_ms(
                lambda data=data: serialize_hive(Hive.parse(data), "preserve", timestamp=0), runs=21
            )
            full = median_ms(
                lambda data=data: [list(k.values) for k in Hive.parse(data).root.walk()], runs=21
            )
            ref = "n/a"
            if have_hivex:
                ref_ms = median_ms(
                    lambda fixture=fixture: hivexsh(fixture, f"commit {out}\n", script), runs=11
                )
                ref = f"{ref_ms:.2f}"
            rows.append(
                f"| {fixture.name} | {len(data)} | {full:.2f} | {compact:.2f} | {preserve:.2f} | {ref} |"
            )

        big = Path(tmp) / "big.hive"
        start = time.perf_counter()
        make_big_hive(big)
        generate_s = time.perf_counter() - start
        size_mb = big.stat().st_size / 1e6
        keys = BIG_GROUPS * BIG_KEYS + BIG_GROUPS + 1

        def edit_preserve() -> None:
            hive = Hive.open(big)
            hive.root.open("Group150\\Key0750").set_value("Index", RegType.DWORD, 7)
            save_hive(hive, out, mode="preserve", timestamp=1)

        def edit_compact() -> None:
            hive = Hive.open(big)
            hive.root.open("Group150\\Key0750").set_value("Index", RegType.DWORD, 7)
            save_hive(hive, out, mode="compact", timestamp=1)

        ours = median_ms(edit_preserve)
        ours_compact = median_ms(edit_compact, runs=5)
        open_only = median_ms(lambda: Hive.open(big))
        ref_big = None
        if have_hivex:
            commands = "cd \\Group150\\Key0750\nsetval 1\nIndex\ndword:7\ncommit " + str(out) + "\n"
            ref_big = median_ms(lambda: hivexsh(big, commands, script))

    cpu = platform.processor() or platform.machine()
    lines = [
        "## Hive engine (bench/bench_hive.py)",
        "",
        f"Machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}; shared with other",
        "helpers' work while measured, so take ratios rather than absolute numbers. Medians of 21 runs",
        f"(fixtures, hivexsh 11) and {RUNS} runs (big hive). Reference: `hivexsh -w` (hivex) doing the same job.",
        "",
        "### Parse + rewrite of each BCD fixture (ms)",
        "",
        "| fixture | bytes | parse + read all | parse + compact | parse + preserve | hivexsh commit |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"### Generated hive: {size_mb:.1f} MB, {keys} keys, 300k values (generated in {generate_s:.1f} s)",
        "",
        "| operation | pebuild (ms) | hivexsh (ms) | ratio |",
        "|---|---|---|---|",
        f"| open (header + bin walk) | {open_only:.0f} | | |",
        f"| open, change one value, save (preserve) | {ours:.0f} | "
        + (f"{ref_big:.0f} | {ours / ref_big:.2f} |" if ref_big else "n/a | |"),
        f"| open, change one value, save (compact: full re-layout) | {ours_compact:.0f} | | |",
        "",
        f"Target for open + change one value + save: < 2000 ms -> {'met' if ours < 2000 else 'NOT met'}.",
        "",
        "### Reading a real SYSTEM hive: every key and value (CPU time)",
        "",
        *walk,
        "",
        "hivexml walks the same tree in C and prints it as XML (to /dev/null here). pebuild",
        "decodes cells with precompiled `struct` formats and inlined bounds checks, keeps each",
        "key node and value as a plain tuple (the garbage collector then stops tracking them)",
        "and shares one empty tuple for keys without subkeys or values; before that a full",
        "walk cost 7-11x hivex (issue 15).",
        "",
        "The preserve save includes the full structural check of the 35 MB image (check.py: every",
        "cell, list, value and security cell; about 1 s of it) that runs before any write, so a",
        "damaged hive is refused instead of getting a new header; hivexsh checks nothing before",
        "it commits. The check runs once per opened hive.",
        "",
        'Notes: pebuild decodes keys lazily, so "parse + preserve" without edits is the header and',
        'bin checks plus a copy of the bins; "parse + read all" walks every key and value. The hivexsh',
        "column includes starting the hivexsh process (~1-2 ms). The preserve save writes the whole",
        "file to a temporary file, fsyncs and renames it (hivexsh rewrites in place without fsync).",
        "",
    ]
    text = "\n".join(lines)
    target = REPO / "docs" / "perf" / "hive.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
