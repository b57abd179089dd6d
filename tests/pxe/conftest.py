"""Fixtures of the PXE tests (helpers live in pxe_support.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # pxe_support.py and _tftp_client.py for the test modules

from pxe_support import make_boot_wim


@pytest.fixture(scope="session")
def boot_wims(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pxe-wims")
    return {arch: make_boot_wim(base / f"boot-{arch}.wim", arch) for arch in ("amd64", "x86", "arm64")}
