"""Shared test helpers: tool requirements and the ../shared fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: the installed console script beside this interpreter, else `python -m pebuild`
_SCRIPT = Path(sys.executable).parent / "pebuild"
PEBUILD_CMD = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pebuild"]
SHARED_DIR = REPO_ROOT.parent / "shared"
BCD_FIXTURES = SHARED_DIR / "fixtures" / "bcd"

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


@pytest.fixture
def bcd_fixtures() -> Path:
    if not BCD_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {BCD_FIXTURES} (CI checks out shared/ beside the repo)")
    return BCD_FIXTURES


@pytest.fixture
def run_pebuild(tmp_path: Path):
    """Run the real `pebuild` CLI in a subprocess (exit codes, stderr, no tracebacks)."""

    def run(*args: str, check: bool = False, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env.setdefault("XDG_STATE_HOME", str(tmp_path / "state"))
        full_env.setdefault("XDG_CACHE_HOME", str(tmp_path / "cache"))
        if env:
            full_env.update(env)
        proc = subprocess.run(
            [*PEBUILD_CMD, *args],
            capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"pebuild {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    return run


def assert_one_line_error(proc: subprocess.CompletedProcess[str], expected_code: int | None = None) -> None:
    """Bad input: non-zero exit, exactly one line on stderr starting 'pebuild:', no traceback."""
    assert proc.returncode != 0, proc
    if expected_code is not None:
        assert proc.returncode == expected_code, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pebuild: "), proc.stderr
    assert "Traceback" not in proc.stderr
