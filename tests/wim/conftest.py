"""WIM fixtures: trees generated here, WIMs written by wimlib-imagex (an independent writer).

Image 1 goes through an NTFS volume (mkntfs + `wimlib-imagex apply/capture`
in NTFS-3G mode, no mount), so it carries real Windows metadata — security
descriptors — that a Linux extraction cannot reproduce: the mount tests prove
commit leaves it untouched. Image 2 is captured from a Linux tree with a
symlink and hard links, and is the boot image.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from _helpers import require_tool

FIXED_TIME = 1_600_000_000


def make_tree(root: Path, *, seed: int = 1, files: int = 40, symlinks: bool = True) -> Path:
    """A small WinPE-shaped tree with fixed content and file times."""
    rng = random.Random(seed)
    layout = {
        "Windows/System32/startnet.cmd": b"wpeinit\r\n",
        "Windows/System32/winpeshl.ini": b"[LaunchApps]\r\n%SYSTEMROOT%\\System32\\cmd.exe\r\n",
        "Windows/System32/config/SYSTEM": bytes(rng.getrandbits(8) for _ in range(20_000)),
        "Windows/System32/drivers/etc/hosts": b"127.0.0.1 localhost\r\n",
        "Windows/Boot/DVD/PCAT/boot.sdi": b"\0" * 4096,
        "Program Files/Tool/tool.exe": b"MZ" + bytes(rng.getrandbits(8) for _ in range(3000)),
        "Program Files/Tool/readme.txt": b"tool readme\r\n" * 20,
    }
    for i in range(files):
        size = rng.choice([0, 10, 200, 1500, 9000])
        layout[f"Windows/System32/file{i:03d}.dll"] = bytes(rng.getrandbits(8) for _ in range(size // 4)) * 4
    for rel, data in layout.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "Users/Default/Desktop").mkdir(parents=True)  # empty directories
    (root / "Windows/Temp").mkdir(parents=True)
    if symlinks:
        os.link(root / "Windows/System32/file000.dll", root / "Windows/System32/hardlink.dll")
        (root / "Windows/System32/startnet.lnk").symlink_to("startnet.cmd")
    fix_times(root)
    return root


def fix_times(root: Path, when: int = FIXED_TIME) -> None:
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def imagex(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    tool = require_tool("wimlib-imagex")
    proc = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"wimlib-imagex {' '.join(map(str, args))}: {proc.stderr}")
    return proc


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_LAYOUT = ("Offset in WIM", "Compressed size", "Flags ", "Part Number")


def detailed(wim: Path, index: int, *, layout: bool = True) -> dict[str, str]:
    """`wimlib-imagex dir --detailed`, split per path: path -> its metadata block.

    layout=False drops where each blob sits in the file (for exports and rebuilds).
    """
    out = imagex("dir", wim, str(index), "--detailed").stdout
    blocks: dict[str, str] = {}
    for block in out.split("-" * 76):
        for line in block.splitlines():
            if line.startswith("Full Path"):
                path = line.split("=", 1)[1].strip().strip('"')
                # Reference counts are WIM-wide (blobs shared between files and images), and
                # libwim renumbers link group IDs on every write (which files share one is what counts).
                kept = [
                    ln
                    for ln in block.strip().splitlines()
                    if not ln.startswith(("Reference Count", "Link Group ID"))
                    and (layout or not ln.startswith(_LAYOUT))
                ]
                blocks[path] = "\n".join(kept)
                break
    return blocks


def listing(wim: Path, index: int) -> list[str]:
    return imagex("dir", wim, str(index)).stdout.splitlines()


def _build(dest: Path, compress: str) -> Path:
    require_tool("mkntfs")
    work = dest / f"work-{compress}"
    work.mkdir()
    tree_a = make_tree(work / "a", seed=1)
    tree_b = make_tree(work / "b", seed=2, files=10)
    plain = work / "plain.wim"
    imagex("capture", tree_a, plain, "plain", "--compress=none", "--no-acls")
    ntfs = work / "ntfs.img"
    with open(ntfs, "wb") as fh:
        fh.truncate(16 << 20)
    subprocess.run([require_tool("mkntfs"), "-F", "-Q", "-q", str(ntfs)], check=True, capture_output=True)
    imagex("apply", plain, "1", ntfs)
    wim = dest / f"sample-{compress}.wim"
    imagex("capture", ntfs, wim, "WinPE A", "Image captured from NTFS", f"--compress={compress}")
    imagex("append", tree_b, wim, "WinPE B", f"--compress={compress}")
    imagex("info", wim, "2", "--boot")
    shutil.rmtree(work)
    return wim


@pytest.fixture(scope="session")
def wim_factory(tmp_path_factory: pytest.TempPathFactory):
    """compress -> a pristine two-image WIM (boot index 2) written by wimlib-imagex."""
    base = tmp_path_factory.mktemp("wims")
    cache: dict[str, Path] = {}

    def get(compress: str = "lzx") -> Path:
        if compress not in cache:
            cache[compress] = _build(base, compress)
        return cache[compress]

    return get


@pytest.fixture
def sample_wim(wim_factory, tmp_path: Path) -> Path:
    """A private copy of the LZX sample WIM."""
    dst = tmp_path / "boot.wim"
    shutil.copyfile(wim_factory("lzx"), dst)
    return dst


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_STATE_HOME for in-process mount calls (run_pebuild uses tmp_path/state too)."""
    state = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture(scope="session")
def wt():
    """The helpers above, for test modules (conftest is not importable by name in importlib mode)."""
    import types

    return types.SimpleNamespace(
        make_tree=make_tree,
        fix_times=fix_times,
        imagex=imagex,
        sha256=sha256,
        detailed=detailed,
        listing=listing,
        FIXED_TIME=FIXED_TIME,
    )
