"""The sdist and wheel as users get them: built, installed into a fresh venv, run from outside the checkout.

Once per session (tests share the `installed` fixture; one xdist group): `python -m
build` makes the sdist and then the wheel from the unpacked sdist, with build
isolation, offline, from the wheelhouse `make wheelhouse` filled (setuptools at the
build-system lower bound). The wheel goes into a new venv together with pebuild's
dependencies at their lowest declared versions, so the main job and a smoke boot
prove those bounds. Nothing of the checkout is on that venv's sys.path.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import pebuild
from _helpers import PEBUILD_CMD, REPO_ROOT, load_module, require_tool
from pebuild.doctor import parse_package_list

pytestmark = [pytest.mark.xdist_group("packaging-wheel"), pytest.mark.slow]

PACKAGE_DIR = REPO_ROOT / "src" / "pebuild"
#: what a clean clone holds that the build reads (the shipped package list links into .ci/)
BUILD_INPUTS = ("pyproject.toml", "README.md", ".ci/debian-packages.txt")


def _wheelhouse_module():
    return load_module(REPO_ROOT / ".ci" / "wheelhouse.py")


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs `make test`, which fills it)")
    pytest.skip(reason)


def _offline_pip_env(wheelhouse: Path) -> dict[str, str]:
    """pip reads only the wheelhouse: no index, no user or site config (CI may have no network)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1")
    return env


def _package_files() -> list[str]:
    """Every file of the pebuild package in the checkout, relative to src/ (what a wheel must carry)."""
    return sorted(
        str(p.relative_to(PACKAGE_DIR.parent))
        for p in PACKAGE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path
    pins: list[str]

    @property
    def pebuild(self) -> str:
        return str(self.venv / "bin" / "pebuild")

    def env(self, cwd: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env.update(XDG_STATE_HOME=str(cwd / ".state"), XDG_CACHE_HOME=str(cwd / ".cache"))
        env["SOURCE_DATE_EPOCH"] = "1700000000"
        return env

    def run(self, cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """The installed `pebuild`, from `cwd` (a test's own directory, outside the checkout)."""
        return subprocess.run(
            [self.pebuild, *args], capture_output=True, text=True, cwd=cwd, env=self.env(cwd), timeout=timeout
        )

    def python(self, cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=self.env(cwd),
            timeout=120,
        )


def _build_and_install(root: Path, wheelhouse: Path) -> Installed:
    tree = root / "clone"  # only what a clean clone has; the build must not write into the checkout
    shutil.copytree(
        PACKAGE_DIR, tree / "src" / "pebuild", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in BUILD_INPUTS:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, tree / name)
    dist = root / "dist"
    env = _offline_pip_env(wheelhouse)
    build = [sys.executable, "-m", "build", "--outdir", str(dist), str(tree)]
    proc = subprocess.run(build, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = dist.glob("pebuild-*.tar.gz")
    (wheel,) = dist.glob("pebuild-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    runtime = _wheelhouse_module().lowest_pins(build=False)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
    proc = subprocess.run([*pip, str(wheel), *runtime], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Installed(sdist, wheel, venv, runtime)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Built and installed once per test session, shared by the xdist workers through a lock file.

    (--dist loadgroup cannot keep these tests on one worker: with pytest 9.2 xdist's group
    suffix no longer takes effect, pytest-xdist issue #1386.)
    """
    if importlib.util.find_spec("build") is None:
        _unavailable("the `build` package is not installed (pip install -e '.[test]')")
    wheelhouse = Path(os.environ.get("PEBUILD_WHEELHOUSE", Path(sys.prefix) / "wheelhouse"))
    pins = _wheelhouse_module().lowest_pins()
    recorded = wheelhouse / "lowest.txt"
    if not recorded.is_file() or recorded.read_text().split() != pins:
        _unavailable(
            f"no wheelhouse with {' '.join(pins)} at {wheelhouse}: run `make wheelhouse` (`make test` does)"
        )

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # one per session
    root, record = shared / "packaging-wheel", shared / "packaging-wheel.json"
    with open(shared / "packaging-wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.is_file():
            if root.exists():
                shutil.rmtree(root)  # a worker that failed half-way
            root.mkdir()
            built = _build_and_install(root, wheelhouse)
            record.write_text(json.dumps({k: str(v) for k, v in vars(built).items() if k != "pins"}))
        data = json.loads(record.read_text())
    return Installed(
        Path(data["sdist"]),
        Path(data["wheel"]),
        Path(data["venv"]),
        _wheelhouse_module().lowest_pins(build=False),
    )


def test_wheel_and_sdist_hold_every_package_file(installed: Installed) -> None:
    expected = _package_files()
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        missing = [f for f in expected if f not in names]
        assert not missing, f"not in the wheel (pyproject.toml package-data): {missing}"
        shipped_list = whl.read("pebuild/shipped/debian-packages.txt")
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = whl.read(info).decode()
        entry_points = whl.read(info.replace("METADATA", "entry_points.txt")).decode()
        generator = whl.read(info.replace("METADATA", "WHEEL")).decode()
    assert shipped_list == (REPO_ROOT / ".ci" / "debian-packages.txt").read_bytes()  # the link's content
    assert f"Version: {pebuild.__version__}\n" in metadata
    assert "pebuild = pebuild.cli:main" in entry_points
    # built with the build-system lower bound, the only setuptools in the wheelhouse
    assert "Generator: setuptools (77.0.3)" in generator, generator
    for pin in installed.pins:
        assert f"Requires-Dist: {pin.split('==')[0]}" in metadata
    with tarfile.open(installed.sdist) as sdist:
        members = {m.name.split("/", 1)[1]: m for m in sdist.getmembers() if "/" in m.name}
        missing = [f for f in expected if f"src/{f}" not in members]
        assert not missing, f"not in the sdist: {missing}"
        listed = members["src/pebuild/shipped/debian-packages.txt"]
        assert listed.isfile(), "the sdist must hold the package list itself, not a link out of the tree"


def test_installed_tool_runs_outside_the_checkout(installed: Installed, tmp_path: Path) -> None:
    proc = installed.python(
        tmp_path, "import sys, pebuild; print(pebuild.__file__); print('\\n'.join(sys.path))"
    )
    assert proc.returncode == 0, proc.stderr
    where, *path = proc.stdout.splitlines()
    assert Path(where).is_relative_to(installed.venv), where
    assert not [p for p in path if p and Path(p).resolve().is_relative_to(REPO_ROOT)], path
    proc = installed.run(tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout == f"pebuild, version {pebuild.__version__}\n"


def test_installed_with_the_lowest_dependency_versions(installed: Installed, tmp_path: Path) -> None:
    proc = installed.run(tmp_path, "doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["pebuild"] == pebuild.__version__
    python_row = next(c for c in report["checks"] if c["name"] == "python packages")
    for pin in installed.pins:
        name, version = pin.split("==")
        assert f"{name} {version}" in python_row["detail"].replace("Jinja2", "jinja2"), python_row
    listed = parse_package_list((REPO_ROOT / ".ci" / "debian-packages.txt").read_text())
    assert report["debian_packages"] == list(listed)  # the list travels in the wheel
    text = installed.run(tmp_path, "doctor")
    assert text.returncode == 0 and "verdict: ok" in text.stdout


def test_installed_recipes(installed: Installed, tmp_path: Path) -> None:
    proc = installed.run(tmp_path, "recipes")
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")][:4] == [
        "capture",
        "deploy",
        "rescue",
        "smoke",
    ]
    where = installed.run(tmp_path, "recipes", "show", "capture", "--path")
    assert Path(where.stdout.strip()).is_relative_to(installed.venv)
    shown = installed.run(tmp_path, "recipes", "show", "capture")
    assert shown.stdout == (REPO_ROOT / "recipes" / "capture.toml").read_text()


def test_rich_progress_at_its_lowest_version(installed: Installed, tmp_path: Path) -> None:
    """The progress bar (only drawn on a terminal, so `make` in a pipe never shows it) with rich's lower bound."""
    code = (
        "import io\n"
        "from rich.console import Console\n"
        "from pebuild.cli._common import progress_display\n"
        "from pebuild.progress import ProgressEvent\n"
        "out = io.StringIO()\n"
        "with progress_display('make', quiet=False, console=Console(file=out, force_terminal=True, width=150)) as p:\n"
        "    p(ProgressEvent('build', 2, 9, 'image: edit boot.wim', unit='steps'))\n"
        "    p(ProgressEvent('write', 1_500_000, 417_900_000))\n"
        "print(out.getvalue())\n"
    )
    proc = installed.python(tmp_path, code)
    assert proc.returncode == 0, proc.stderr
    assert "2/9 steps" in proc.stdout and "1.5/417.9 MB" in proc.stdout


@pytest.mark.smoke
def test_main_job_and_smoke_boot_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    """Done-when of issue 16: the wheel's pebuild builds capture media by name and they boot (BIOS).

    The same build from the checkout (recipes/ through its link, latest dependencies) is byte-identical.
    """
    require_tool("qemu-system-x86_64")
    args = ["make", "amd64", "--recipe", "capture", "--source", "sample", "-o", "w.iso"]
    args += ["--manifest", "m.json", "--pxe", "pxe", "--usb", "usb.img"]
    work = tmp_path / "wheel"
    work.mkdir()
    proc = installed.run(work, *args)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((work / "m.json").read_text())
    assert manifest["recipe"]["path"] == "capture.toml"
    assert manifest["recipe"]["settings"]["overlays"] == ["imagex", "wimscript"]
    assert (work / "pxe" / "boot.ipxe").is_file() and (work / "usb.img").stat().st_size > 0

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    here = [*args]
    here[here.index("capture")] = str(REPO_ROOT / "recipes" / "capture.toml")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", "XDG_STATE_HOME": str(tmp_path / "state")}
    proc = subprocess.run(
        [*PEBUILD_CMD, *here], capture_output=True, text=True, cwd=checkout, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("w.iso", "usb.img"):  # the manifest differs: it records the dependency versions
        assert (work / name).read_bytes() == (checkout / name).read_bytes(), name
    tree = sorted(p.relative_to(work / "pxe") for p in (work / "pxe").rglob("*") if p.is_file())
    assert tree == sorted(
        p.relative_to(checkout / "pxe") for p in (checkout / "pxe").rglob("*") if p.is_file()
    )
    for rel in tree:
        # server configs name the tree's absolute path, and the ownership marker lists their hashes
        if rel.parts[0] != "conf" and rel.name != ".pebuild-tree.json":
            assert (work / "pxe" / rel).read_bytes() == (checkout / "pxe" / rel).read_bytes(), rel

    proc = installed.run(
        work,
        "smoke",
        "w.iso",
        "--firmware",
        "bios",
        "--expect",
        "PEBUILD-SAMPLE bootmgr bcd=",
        "--json",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
