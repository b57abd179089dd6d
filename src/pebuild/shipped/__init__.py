"""Files pebuild ships inside its package: example recipes, tool overlays, the Debian package list.

They live here, not beside `src/`, so a wheel, an sdist install, an editable
install and a checkout all find them the same way (importlib.resources). The
checkout's top-level `recipes/` and `overlays/` are symbolic links to these
folders (the design card's layout), and `debian-packages.txt` is a link to
`.ci/debian-packages.txt`, which `make setup` and the Containerfile read; the
build copies the linked files into the wheel (tests/packaging check both).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

RECIPES = "recipes"
OVERLAYS = "overlays"
DEBIAN_PACKAGES = "debian-packages.txt"


def path(*parts: str) -> Path:
    """A file or folder shipped in this package, as a file-system path.

    pebuild is installed as files (wheel, sdist, editable or checkout; no zipapp),
    so `files()` is a real directory; the loader reads and globs it like any path.
    """
    root = resources.files(__name__)
    return Path(str(root.joinpath(*parts)))
