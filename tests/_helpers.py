"""Helpers every test module may import (`from _helpers import require_tool, ...`)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: the installed console script beside this interpreter, else `python -m pebuild`
_SCRIPT = Path(sys.executable).parent / "pebuild"
PEBUILD_CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pebuild"]
SHARED_DIR = REPO_ROOT.parent / "shared"
BCD_FIXTURES = SHARED_DIR / "fixtures" / "bcd"
HIVE_FIXTURES = SHARED_DIR / "fixtures" / "hives"

#: program -> Debian package that provides it (the skip reason names it)
TOOL_PACKAGES = {
    "wimlib-imagex": "wimtools",
    "hivexregedit": "libwin-hivex-perl",
    "hivexsh": "libhivex-bin",
    "xorriso": "xorriso",
    "isoinfo": "genisoimage",
    "genisoimage": "genisoimage",
    "7z": "p7zip-full",
    "udfinfo": "udftools",
    "qemu-system-x86_64": "qemu-system-x86",
    "mkntfs": "ntfs-3g",
    "dnsmasq": "dnsmasq",
    "tftp": "tftp-hpa",
    "atftp": "atftp",
    "mdir": "mtools",
    "fsck.vfat": "dosfstools",
    "sfdisk": "fdisk",
    "nasm": "nasm",
    "aarch64-linux-gnu-as": "binutils-aarch64-linux-gnu",
    "aarch64-linux-gnu-objcopy": "binutils-aarch64-linux-gnu",
    "qemu-system-aarch64": "qemu-system-arm",
    "file": "file",
    "curl": "curl",
    "ip": "iproute2",
    "ss": "iproute2",
}


def which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin")


def require_tool(tool: str) -> str:
    """Return the tool's path or skip the test naming the Debian package to install."""
    path = which(tool)
    if path is None:
        pkg = TOOL_PACKAGES.get(tool, tool)
        pytest.skip(f"{tool} not installed (Debian package {pkg}; `make setup` installs it)")
    return path


def assert_one_line_error(proc: subprocess.CompletedProcess[str], expected_code: int | None = None) -> None:
    """Bad input: non-zero exit, exactly one line on stderr starting 'pebuild:', no traceback."""
    assert proc.returncode != 0, proc
    if expected_code is not None:
        assert proc.returncode == expected_code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pebuild: "), proc.stderr
    assert "Traceback" not in proc.stderr


def load_module(path: Path) -> ModuleType:
    """A Python file outside the packages (a .ci script, a sibling test helper) as a module, by path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def format_error_line(call: Callable[[], object], path: str) -> str:
    """Damaged input: `call()` raises pebuild's FormatError naming `path`, on one line; that line."""
    from pebuild.errors import FormatError

    with pytest.raises(FormatError) as info:
        call()
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    return text


def hive_fixture(name: str, dest: Path, *, logs: bool = True) -> Path:
    """Copy the real hive `name` from ../shared/fixtures/hives into `dest` (writable), with its
    transaction logs beside it under their own names (regipy's .xz logs decompressed)."""
    import lzma
    import shutil as _shutil

    src = HIVE_FIXTURES / name
    if not src.is_file():
        pytest.skip(f"shared hive fixture {name} not found in {HIVE_FIXTURES}")
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / name
    _shutil.copyfile(src, out)
    if logs:
        prefix = (name + ".log").casefold()
        for log in sorted(HIVE_FIXTURES.iterdir()):
            if not log.name.casefold().startswith(prefix):
                continue
            if log.suffix == ".xz":
                (dest / log.name[:-3]).write_bytes(lzma.decompress(log.read_bytes()))
            else:
                _shutil.copyfile(log, dest / log.name)
    return out
