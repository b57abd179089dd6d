"""Run every benchmark in bench/ (each compares pebuild with its reference tool in the same run).

Each bench_<area>.py is a standalone script that prints medians and ratios and
writes docs/perf/<area>.md; `make bench` runs them all and then assembles
docs/performance.md from those sections. Benchmarks are never tests: nothing
here asserts on timing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def assemble() -> None:
    parts = sorted((ROOT / "docs" / "perf").glob("*.md"))
    head = ROOT / "docs" / "perf" / "README.head"
    text = head.read_text() if head.exists() else "# Performance\n\n"
    for part in parts:
        text += "\n" + part.read_text().strip() + "\n"
    (ROOT / "docs" / "performance.md").write_text(text)


def main(argv: list[str]) -> int:
    only = set(argv)
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        area = script.stem.removeprefix("bench_")
        if only and area not in only:
            continue
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    assemble()
    if failed:
        print("benchmarks failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
