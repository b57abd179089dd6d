"""Fixtures for servicing tests: small real hives made with pebuild.hive, and WIMs holding them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import require_tool

# the independent hive readers shared with tests/hive and tests/bcd (tests/hive/hive_check.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hive"))
import hive_check

CONFIG = "Windows/System32/config"


def _dword(n: int) -> bytes:
    return n.to_bytes(4, "little")


def make_system_hive(current: int = 1, padding_keys: int = 0) -> bytes:
    from pebuild.hive import Hive, RegType, serialize_hive

    hive = Hive.new("SYSTEM")
    select = hive.root.create("Select")
    for name, v in (("Current", current), ("Default", current), ("LastKnownGood", 2), ("Failed", 0)):
        select.set_value(name, RegType.DWORD, _dword(v))
    for n in (1, 2):
        cs = hive.root.create(f"ControlSet{n:03d}")
        cs.create("Control\\MiniNT")
        svc = cs.create("Services\\Tcpip\\Parameters")
        svc.set_value("Hostname", RegType.SZ, f"cs{n}")
        cs.create("Services\\FBWF").set_value("Start", RegType.DWORD, _dword(0))
    setup = hive.root.create("Setup")
    setup.set_value("CmdLine", RegType.SZ, "winpeshl.exe")
    setup.set_value("SystemSetupInProgress", RegType.DWORD, _dword(1))
    for i in range(padding_keys):
        k = hive.root.create(f"ControlSet001\\Enum\\Pad\\K{i:06d}")
        k.set_value("Blob", RegType.BINARY, bytes([i % 256]) * 1024)
    return serialize_hive(hive, "compact", timestamp=1_700_000_000)


def make_software_hive() -> bytes:
    from pebuild.hive import Hive, RegType, serialize_hive

    hive = Hive.new("SOFTWARE")
    cv = hive.root.create("Microsoft\\Windows NT\\CurrentVersion")
    cv.set_value("CurrentBuildNumber", RegType.SZ, "7601")
    cv.set_value("SystemRoot", RegType.SZ, "X:\\Windows")
    winpe = cv.create("WinPE")
    winpe.set_value("Version", RegType.SZ, "3.0")
    hive.root.create("Classes\\.txt").set_value("", RegType.SZ, "txtfile")
    hive.root.create("Pebuild\\Doomed\\Child").set_value("x", RegType.DWORD, _dword(1))
    hive.root.create("Pebuild\\Types").set_value("Removed", RegType.SZ, "bye")
    return serialize_hive(hive, "compact", timestamp=1_700_000_000)


def make_default_hive() -> bytes:
    from pebuild.hive import Hive, RegType, serialize_hive

    hive = Hive.new("DEFAULT")
    hive.root.create("Console").set_value("QuickEdit", RegType.DWORD, _dword(0))
    hive.root.create("Control Panel\\Desktop").set_value("Wallpaper", RegType.SZ, "")
    return serialize_hive(hive, "compact", timestamp=1_700_000_000)


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    """An extracted WinPE-like tree with SYSTEM, SOFTWARE, DEFAULT and a startnet.cmd."""
    root = tmp_path / "tree"
    config = root / CONFIG
    config.mkdir(parents=True)
    (config / "SYSTEM").write_bytes(make_system_hive())
    (config / "SOFTWARE").write_bytes(make_software_hive())
    (config / "DEFAULT").write_bytes(make_default_hive())
    (root / "Windows/System32/startnet.cmd").write_bytes(b"wpeinit\r\n")
    return root


@pytest.fixture
def image_wim(tmp_path: Path, image_tree: Path) -> Path:
    """A WIM with the tree as image 1 (captured by wimlib-imagex, an independent writer)."""
    tool = require_tool("wimlib-imagex")
    wim = tmp_path / "boot.wim"
    subprocess.run(
        [tool, "capture", str(image_tree), str(wim), "Microsoft Windows PE (amd64)", "--boot"],
        check=True,
        capture_output=True,
    )
    return wim


def hivex_export(hive: Path, key: str = "\\", prefix: str | None = None) -> str:
    """hivexregedit's export (tests/hive/hive_check.py, shared by the hive, bcd and servicing tests)."""
    require_tool("hivexregedit")
    return hive_check.hivex_export(hive, prefix, key)


def export_blocks(text: str) -> dict[str, list[str]]:
    """hivexregedit export -> {key line: value lines}; hivex prints keys in a stable order."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("["):
            current = line
            blocks[current] = []
        elif current is not None and line.strip():
            blocks[current].append(line)
    return blocks


def hivex_values_of(data: bytes, where: Path) -> dict[str, dict[str, tuple[int, bytes]]]:
    """Hive bytes written to `where` and read back by hivex: {key: {value name: (type, data)}}."""
    require_tool("hivexregedit")
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_bytes(data)
    return hive_check.hivex_values(where)


class HiveKit:
    """Helpers the servicing tests share (a fixture, since every conftest is named conftest)."""

    make_system_hive = staticmethod(make_system_hive)
    make_software_hive = staticmethod(make_software_hive)
    make_default_hive = staticmethod(make_default_hive)
    hivex_export = staticmethod(hivex_export)
    export_blocks = staticmethod(export_blocks)
    hivex_values_of = staticmethod(hivex_values_of)


@pytest.fixture(scope="session")
def kit() -> type[HiveKit]:
    return HiveKit
