"""The Containerfile: Debian 12, the one package list, the wheel. Building it needs a registry (not here)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path

import pebuild
from _helpers import REPO_ROOT, load_module
from pebuild.doctor import debian_packages

CONTAINERFILE = REPO_ROOT / "Containerfile"
INSTRUCTIONS = {"FROM", "ENV", "RUN", "COPY", "WORKDIR", "CMD", "ARG", "LABEL", "ENTRYPOINT", "USER"}


def _renderer():
    return load_module(REPO_ROOT / ".ci" / "containerfile.py")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comment lines dropped, as builders read it."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word, rest.strip()))
        pending = ""
    assert not pending, "a continuation runs past the end of the file"
    return out


def test_package_block_is_rendered_from_the_package_list() -> None:
    renderer = _renderer()
    text = CONTAINERFILE.read_text()
    expected = renderer.render((REPO_ROOT / ".ci" / "debian-packages.txt").read_text())
    assert renderer.current_block(text) == expected, "run `make containerfile`"


def test_instructions_install_the_list_and_the_wheel() -> None:
    steps = _instructions(CONTAINERFILE.read_text())
    assert {word for word, _ in steps} <= INSTRUCTIONS, steps
    assert re.fullmatch(r"(docker\.io/library/)?debian:12(-slim)?", steps[0][1]), steps[0]
    runs = [args for word, args in steps if word == "RUN"]
    apt = next(shlex.split(r) for r in runs if "apt-get install" in r)
    installed = apt[apt.index("--no-install-recommends") + 1 : apt.index("&&", apt.index("install"))]
    assert installed[:3] == ["ca-certificates", "python3", "python3-venv"]
    assert tuple(installed[3:]) == debian_packages()

    (copy,) = [args for word, args in steps if word == "COPY"]
    source, dest = copy.split()
    wheel = f"pebuild-{pebuild.__version__}-py3-none-any.whl"  # what `make dist` writes
    assert fnmatch.fnmatch(Path(source).name, "pebuild-*-py3-none-any.whl") and source.startswith("dist/")
    assert fnmatch.fnmatch(wheel, Path(source).name)
    pip = next(r for r in runs if "pip install" in r)
    assert dest in pip and "pebuild doctor" in pip  # the image build fails when `pebuild make` could not run
    assert ("ENV", "PATH=/opt/pebuild/bin:$PATH") in steps
    cmd = next(args for word, args in steps if word == "CMD")
    assert json.loads(cmd)[0] == "pebuild"


def test_makefile_can_rerender_and_build_the_wheel() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "\ncontainerfile: " in makefile and ".ci/containerfile.py" in makefile
    assert "\ndist: " in makefile and "-m build --outdir dist" in makefile
