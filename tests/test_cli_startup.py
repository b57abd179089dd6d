"""Start-up: the verbs scripts call most import only what they use (which modules, never how long).

Each check runs the verb in a fresh interpreter and lists `sys.modules` when
it is done. Timings live in bench/bench_wim.py and docs/performance.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import require_tool

#: never needed by --help, info, mounts or commit
HEAVY = (
    "jinja2",
    "rich",
    "pycdlib",
    "pefile",
    "construct",
    "pebuild.hive",
    "pebuild.bcd",
    "pebuild.iso",
    "pebuild.make",
    "pebuild.recipe",
    "pebuild.source",
    "pebuild.media",
    "pebuild.qemu",
    "pebuild.pxe",
    "pebuild.usb",
    "pebuild.servicing",
    "pebuild.sample",
)
#: what `pebuild mounts` and `--help` do without: libwim and its ctypes bindings
LIBWIM = ("ctypes", "pebuild.wim._libwim", "pebuild.wim.image")

_HARNESS = """\
import json, sys
from pebuild.cli import main
args = sys.argv[2:]
code = None
if args:
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def _imports(tmp_path: Path, *args: str | Path) -> set[str]:
    """The modules loaded by `pebuild ARGS` (no args: by `import pebuild.cli`), run without a TTY."""
    report = tmp_path / "modules.json"
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.run(
        [sys.executable, "-c", _HARNESS, str(report), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["code"] in (None, 0), proc.stderr
    return set(data["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_import_and_help_load_no_verb(tmp_path: Path) -> None:
    for args in ((), ("--help",)):
        modules = _imports(tmp_path, *args)
        assert _loaded(modules, (*HEAVY, *LIBWIM, "pebuild.wim", "pebuild.cli.wim")) == [], args


def test_mounts_reads_state_files_without_libwim(tmp_path: Path) -> None:
    mounts = tmp_path / "state/pebuild/mounts"
    mounts.mkdir(parents=True)
    record = {
        "dir": str(tmp_path / "gone"),
        "wim": str(tmp_path / "gone.wim"),
        "index": 1,
        "readonly": False,
        "guid": "00" * 16,
        "wim_size": 1,
        "wim_mtime_ns": 1,
        "header_sha256": "",
        "mounted_at": 0.0,
        "created_dir": True,
    }
    (mounts / "0123.json").write_text(json.dumps({"version": 3, "record": record}))
    modules = _imports(tmp_path, "mounts")
    assert "pebuild.wim.mount" in modules  # it did read the state
    assert _loaded(modules, (*HEAVY, *LIBWIM)) == []


def test_info_and_commit_load_only_the_wim_engine(tmp_path: Path) -> None:
    imagex = require_tool("wimlib-imagex")
    tree = tmp_path / "tree"
    (tree / "Windows/System32").mkdir(parents=True)
    (tree / "Windows/System32/startnet.cmd").write_bytes(b"wpeinit\r\n")
    wim = tmp_path / "boot.wim"
    subprocess.run([imagex, "capture", tree, wim, "WinPE", "--compress=lzx"], check=True, capture_output=True)

    info = _imports(tmp_path, "info", wim)
    assert "pebuild.wim.image" in info
    assert _loaded(info, (*HEAVY, "pebuild.wim.capture", "pebuild.wim.mount")) == []

    mnt = tmp_path / "mnt"
    _imports(tmp_path, "mount", wim, mnt)
    (mnt / "Windows/System32/added.txt").write_bytes(b"new\r\n")
    commit = _imports(tmp_path, "commit", mnt)
    assert "pebuild.wim.mount" in commit and "pebuild.wim.image" in commit
    assert _loaded(commit, (*HEAVY, "pebuild.wim.capture")) == []
    listing = subprocess.run([imagex, "dir", wim, "1"], check=True, capture_output=True, text=True).stdout
    assert "/Windows/System32/added.txt" in listing.splitlines()  # the commit did its work


@pytest.mark.parametrize("name", ["capture", "Wim", "libwim_version"])
def test_wim_package_names_load_on_first_use(name: str) -> None:
    code = (
        "import sys, pebuild.wim as w\n"
        "assert 'pebuild.wim.image' not in sys.modules\n"
        f"obj = getattr(w, {name!r})\n"
        "import pebuild.wim.capture\n"  # binding the submodule must not shadow the function
        "from pebuild.wim import capture\n"
        "assert callable(capture) and not isinstance(capture, type(sys)), capture\n"
        "assert sorted(w.__all__) == sorted(w._EXPORTS) and set(w.__all__) <= set(dir(w))\n"
        "try:\n    w.no_such_name\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit('no error')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
