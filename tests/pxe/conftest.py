"""Fixtures of the PXE tests (helpers live in pxe_support.py)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # pxe_support.py and _tftp_client.py for the test modules

from pxe_support import make_boot_wim, world_dir


@pytest.fixture(scope="session")
def boot_wims(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pxe-wims")
    return {arch: make_boot_wim(base / f"boot-{arch}.wim", arch) for arch in ("amd64", "x86", "arm64")}


@pytest.fixture
def world() -> Iterator[Path]:
    """A directory `nobody` can enter (pytest's tmp_path is 0700), for trees real servers serve."""
    path = world_dir("pxe")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
