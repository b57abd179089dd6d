"""Fixtures the smoke tests share."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def iso(tmp_path: Path) -> Path:
    """The smallest file smoke takes for an ISO: 'CD001' at byte 0x8001 (ECMA-119's first volume descriptor)."""
    path = tmp_path / "x.iso"
    data = bytearray(0x9000)
    data[0x8001:0x8006] = b"CD001"
    path.write_bytes(bytes(data))
    return path
