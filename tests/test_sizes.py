from __future__ import annotations

import pytest

from pebuild.errors import UsageError
from pebuild.sizes import parse_size, parse_size_or_auto


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("3170304", 3170304),
        ("3M", 3 << 20),
        ("512MiB", 512 << 20),
        ("8g", 8 << 30),
        ("1.5K", 1536),
        ("2TB", 2 << 40),
    ],
)
def test_sizes_in_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_auto_and_errors_name_the_option() -> None:
    assert parse_size_or_auto("auto") == "auto"
    with pytest.raises(UsageError, match="--usb-size"):
        parse_size_or_auto("lots", what="--usb-size")
    with pytest.raises(UsageError):
        parse_size("auto")
