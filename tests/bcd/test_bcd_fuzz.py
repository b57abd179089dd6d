"""Mutated real stores through the BCD layer (objects, listing, JSON): FormatError or success only."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from _helpers import BCD_FIXTURES
from pebuild.bcd import BcdStore, store_from_json, store_to_json
from pebuild.bcd.listing import format_listing
from pebuild.errors import FormatError
from pebuild.hive import header_checksum

FIXTURES = sorted(BCD_FIXTURES.glob("*.bcd")) if BCD_FIXTURES.is_dir() else []
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"shared BCD fixtures not found at {BCD_FIXTURES}")


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(4096, len(buf))
        if rng.random() < 0.6:
            buf[pos] = rng.randrange(256)
        else:
            struct.pack_into(
                "<I", buf, pos - pos % 4, rng.choice([0, 1, 3, 0xFFFFFFFF, rng.randrange(1 << 32)])
            )
    struct.pack_into("<I", buf, 508, header_checksum(bytes(buf[:512])))
    return bytes(buf)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_mutated_stores_fail_cleanly(fixture: Path) -> None:
    rng = random.Random("bcd" + fixture.name)
    original = fixture.read_bytes()
    ok = 0
    for _ in range(120):
        try:
            store = BcdStore.parse(_mutate(rng, original))
            format_listing(store)
            document = store_to_json(store)
            store_from_json(document).serialize(timestamp=0)
            ok += 1
        except FormatError:
            pass
    assert ok > 0
