"""Mutated real stores through the BCD layer (objects, listing, JSON): FormatError or success only."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from hive_check import bcd_elements, check_structure

from _helpers import BCD_FIXTURES, require_tool
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
def test_mutated_stores_fail_cleanly(fixture: Path, tmp_path: Path) -> None:
    """Accepted mutations are rewritten as valid hives: the structure checker passes every one,
    and for every 10th one the plain rewrite accepts, hivex reads the JSON round trip's output
    as the same store as that rewrite (a few subprocesses per fixture)."""
    require_tool("hivexregedit")
    rng = random.Random("bcd" + fixture.name)
    original = fixture.read_bytes()
    ok = compared = 0
    for _ in range(120):
        try:
            store = BcdStore.parse(_mutate(rng, original))
            format_listing(store)
            document = store_to_json(store)
            again = store_from_json(document).serialize(timestamp=0)
        except FormatError:
            continue
        check_structure(again)
        ok += 1
        if ok % 10 == 1:
            try:
                plain = store.serialize(timestamp=0)
            except FormatError:  # damage the check refuses to carry into a rewrite (docs/hive.md)
                continue
            (tmp_path / "json.bcd").write_bytes(again)
            (tmp_path / "plain.bcd").write_bytes(plain)
            compared += 1
            assert bcd_elements(tmp_path / "json.bcd") == bcd_elements(tmp_path / "plain.bcd")
    assert ok > 0 and compared > 0, (ok, compared)
