"""Fill a wheelhouse with pebuild's dependencies at the LOWEST versions pyproject.toml allows.

`make wheelhouse` (and so `make test`) runs it once (it needs the package index); the test then builds
pebuild's sdist and wheel and installs the wheel into a fresh venv from this
folder alone (pip --no-index), so that test is offline and proves the lower
bounds: the installed tool builds and boots media with exactly these versions.
The build backend's lower bound (build-system.requires) is pinned the same way.

    python .ci/wheelhouse.py .venv/wheelhouse          # writes lowest.txt and the wheels
    python .ci/wheelhouse.py --print                   # only print the pins
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS_FILE = "lowest.txt"


def lowest_pins(
    pyproject: Path = ROOT / "pyproject.toml", *, runtime: bool = True, build: bool = True
) -> list[str]:
    """`name==X` for every runtime and/or build requirement `name>=X,...` (a bound is required)."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    reqs = [
        *(data["project"]["dependencies"] if runtime else []),
        *(data["build-system"]["requires"] if build else []),
    ]
    pins = []
    for req in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", req.split(";")[0])
        if m is None:
            raise SystemExit(f"wheelhouse: cannot read requirement {req!r}")
        name, spec = m.groups()
        low = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", spec)
        if low is None:
            raise SystemExit(f"wheelhouse: {req!r} has no lower bound (>=) for the tests to prove")
        pins.append(f"{name}=={low.group(1)}")
    return pins


def main(argv: list[str]) -> int:
    if argv == ["--print"]:
        print("\n".join(lowest_pins()))
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.mkdir(parents=True, exist_ok=True)
    pins = lowest_pins()
    # `pip wheel` downloads wheels, builds the sdist-only ones (pefile) and adds their dependencies.
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--disable-pip-version-check",
        "-w",
        str(target),
        *pins,
    ]
    if subprocess.run(cmd).returncode != 0:
        print(f"wheelhouse: pip could not fetch {' '.join(pins)}", file=sys.stderr)
        return 1
    (target / PINS_FILE).write_text("\n".join(pins) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
