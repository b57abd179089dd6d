"""QEMU screendump (PPM) to PNG with zlib only: no Pillow at run time.

QEMU writes binary PPM (P6, maxval 255) with any version (qemu.md §5); the
PNG is 8-bit RGB, one IDAT, filter type 0 on every row (PNG spec, RFC 2083).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from pebuild.errors import FormatError
from pebuild.fsutil import write_bytes_atomic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PPM_HEADER = re.compile(rb"P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s")


@dataclass(frozen=True)
class Frame:
    """One screen image as packed RGB rows."""

    width: int
    height: int
    rgb: bytes

    def is_blank(self) -> bool:
        """True when every pixel has the same colour (a black or empty screen)."""
        first = self.rgb[:3]
        return self.rgb == first * (self.width * self.height)


def parse_ppm(data: bytes) -> Frame:
    match = _PPM_HEADER.match(data)
    if not match:
        raise FormatError("not a binary PPM (P6) screendump")
    width, height, maxval = (int(g) for g in match.groups())
    if maxval != 255:
        raise FormatError(f"PPM maxval {maxval} not supported (QEMU writes 255)")
    rgb = data[match.end() : match.end() + width * height * 3]
    if len(rgb) != width * height * 3:
        raise FormatError("PPM screendump is truncated")
    return Frame(width, height, rgb)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode_png(frame: Frame) -> bytes:
    stride = frame.width * 3
    raw = b"".join(b"\0" + frame.rgb[y * stride : (y + 1) * stride] for y in range(frame.height))
    ihdr = struct.pack(">IIBBBBB", frame.width, frame.height, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return (
        PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    )


def ppm_to_png(ppm: Path, png: Path) -> Frame:
    """Convert a screendump file; the PNG is written atomically. Returns the frame."""
    frame = parse_ppm(ppm.read_bytes())
    write_bytes_atomic(png, encode_png(frame))
    return frame
