"""Sizes as users type them: '3M', '512MiB', '8G', '1000000' (binary units, as dd and truncate read them).

One parser for every --size option (USB image, boot.sdi, `make --usb-size`).
"""

from __future__ import annotations

import re

from pebuild.errors import UsageError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int, *, what: str = "size") -> int:
    """Bytes for '3M', '4096K', '512MiB', '8G', '3170304'; UsageError naming `what` otherwise."""
    if isinstance(text, int):
        return text
    match = _SIZE_RE.match(text)
    if not match:
        raise UsageError(
            f"{what} must be a number of bytes with an optional K, M, G or T suffix, got {text!r}"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def parse_size_or_auto(text: str | int, *, what: str = "size") -> int | str:
    """Like parse_size, and 'auto' stays 'auto'."""
    if isinstance(text, str) and text.strip().lower() == "auto":
        return "auto"
    return parse_size(text, what=what)
