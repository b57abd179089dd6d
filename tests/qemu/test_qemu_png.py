"""PPM -> PNG without Pillow, read back by a decoder written here from the PNG spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from _helpers import load_module
from pebuild.errors import FormatError
from pebuild.qemu.png import Frame, encode_png, parse_ppm

# tests/qemu is not on sys.path (importlib mode): the sibling helper is loaded by file
decode_png = load_module(Path(__file__).with_name("pngspec_reader.py")).decode_png


def test_png_round_trip_through_an_independent_decoder() -> None:
    rgb = bytes((x * 7 + y * 13 + c) & 0xFF for y in range(5) for x in range(9) for c in range(3))
    ppm = b"P6\n# comment\n9 5\n255\n" + rgb
    frame = parse_ppm(ppm)
    assert (frame.width, frame.height) == (9, 5)
    assert decode_png(encode_png(frame)) == (9, 5, rgb)
    assert not frame.is_blank()
    assert Frame(2, 2, b"\x10\x20\x30" * 4).is_blank()


@pytest.mark.parametrize(
    "bad", [b"P3\n1 1\n255\n0 0 0", b"P6\n2 2\n255\n\0\0\0", b"P6\n1 1\n65535\n\0\0\0\0\0\0", b""]
)
def test_bad_ppm_is_a_format_error(bad: bytes) -> None:
    with pytest.raises(FormatError):
        parse_ppm(bad)
