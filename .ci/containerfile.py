"""Render the Containerfile's apt-get block from .ci/debian-packages.txt (`make containerfile`).

The list stays the one `make setup` and `pebuild doctor --apt` read; the
Containerfile holds a rendered copy between its BEGIN/END lines so an image
build needs nothing but the file itself. tests/packaging fails when they differ.

    python .ci/containerfile.py            # rewrite the block in place
    python .ci/containerfile.py --check    # exit 1 when the block is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from pebuild.doctor import parse_package_list

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "Containerfile"
PACKAGE_LIST = ROOT / ".ci" / "debian-packages.txt"
BEGIN = "# BEGIN debian-packages: rendered from .ci/debian-packages.txt by `make containerfile`"
END = "# END debian-packages"
#: what the image needs besides pebuild's own list: Python for the wheel's venv
BASE_PACKAGES = ("ca-certificates", "python3", "python3-venv")


def render(package_list: str) -> str:
    """The block between (and including) the BEGIN and END lines."""
    names = [*BASE_PACKAGES, *parse_package_list(package_list)]
    lines = [
        BEGIN,
        "RUN apt-get update \\",
        " && apt-get install -y --no-install-recommends \\",
        *(f"      {name} \\" for name in names),
        " && rm -rf /var/lib/apt/lists/*",
        END,
    ]
    return "\n".join(lines)


def current_block(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str]) -> int:
    text = CONTAINERFILE.read_text(encoding="utf-8")
    want = render(PACKAGE_LIST.read_text(encoding="utf-8"))
    have = current_block(text)
    if argv == ["--check"]:
        if have != want:
            print("Containerfile: package list is stale; run `make containerfile`", file=sys.stderr)
            return 1
        return 0
    if have != want:
        CONTAINERFILE.write_text(text.replace(have, want), encoding="utf-8")
        print("Containerfile: package list re-rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
