"""Mutated real stores fed to the reader: every failure is a FormatError, never a hang or crash."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from _helpers import BCD_FIXTURES
from pebuild.errors import FormatError
from pebuild.hive import Hive, header_checksum, serialize_hive

FIXTURES = sorted(BCD_FIXTURES.glob("*.bcd")) if BCD_FIXTURES.is_dir() else []
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"shared BCD fixtures not found at {BCD_FIXTURES}")
ROUNDS = 200


def _exercise(data: bytes) -> None:
    hive = Hive.parse(data)
    for key in hive.root.walk():
        for value in key.values:
            value.as_python()
        key.class_name  # noqa: B018
        key.security_descriptor()
    serialize_hive(hive, "compact", timestamp=0)
    hive.root.create("fuzz").set_value("v", 4, b"\1\0\0\0")
    serialize_hive(hive, "preserve", timestamp=0)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        pos = rng.randrange(4096, len(buf))
        if choice < 0.45:
            buf[pos] = rng.randrange(256)
        elif choice < 0.75:  # plausible offsets and counts: the dangerous values
            value = rng.choice(
                [0, 0x20, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, rng.randrange(0, len(buf) - 4096)]
            )
            struct.pack_into("<I", buf, pos - pos % 4, value)
        elif choice < 0.97:
            struct.pack_into("<H", buf, pos - pos % 2, rng.choice([0, 1, 0xFFFF, rng.randrange(65536)]))
        else:
            del buf[pos:]
            buf.extend(bytes(4096 - len(buf) % 4096) if len(buf) % 4096 else b"")
    struct.pack_into("<I", buf, 508, header_checksum(bytes(buf[:512])))
    return bytes(buf)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_mutated_fixtures_fail_cleanly(fixture: Path) -> None:
    rng = random.Random(fixture.name)
    original = fixture.read_bytes()
    outcomes = {"ok": 0, "format": 0}
    for _ in range(ROUNDS):
        data = _mutate(rng, original)
        try:
            _exercise(data)
            outcomes["ok"] += 1
        except FormatError:
            outcomes["format"] += 1
    assert outcomes["format"] > 0  # the mutations do reach the structure checks


def test_cycle_in_key_tree_is_reported(bcd_fixtures: Path) -> None:
    """A subkey list pointing back at the root would make a naive walker loop forever."""
    data = bytearray((bcd_fixtures / "wds-default-x64-pxe.bcd").read_bytes())
    root = struct.unpack_from("<I", data, 36)[0]
    sublist = struct.unpack_from("<I", data, 4096 + root + 4 + 0x1C)[0]
    struct.pack_into("<I", data, 4096 + sublist + 4 + 4, root)  # first entry -> root
    with pytest.raises(FormatError, match=r"cycle|ancestor"):
        list(Hive.parse(bytes(data)).root.walk())


def test_shared_subtree_is_reported(bcd_fixtures: Path) -> None:
    """A key listed under two parents (a DAG) would make a walk exponential on crafted input."""
    hive = Hive.open(bcd_fixtures / "wds-default-x64-pxe.bcd")
    objects = hive.root.subkey("Objects").record
    description = hive.root.subkey("Description").record
    data = bytearray((bcd_fixtures / "wds-default-x64-pxe.bcd").read_bytes())
    # make Objects' subkey list point at the Description key node too
    struct.pack_into("<I", data, 4096 + objects.subkeys_list + 4 + 4, description.offset)
    with pytest.raises(FormatError, match="more than one parent"):
        list(Hive.parse(bytes(data)).root.walk())
