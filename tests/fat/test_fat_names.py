"""Short names and VFAT long names against mtools and fsck.fat, including random name sets."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers import require_tool
from pebuild.fat import make_fat_image
from pebuild.fat._names import as_short_name, lfn_count, lfn_entries, make_short_name, short_name_checksum

# characters a long name may hold (no "*/:<>?\|, no control characters); a few non-ASCII ones
NAME_CHARS = st.sampled_from(
    [*"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-+,;=[]~$%'@!(){}^#&", "é", "ß", "Ω"]
)
NAMES = st.text(NAME_CHARS, min_size=1, max_size=40).filter(
    lambda n: n.strip(". ") == n and n not in (".", "..")
)


def test_short_name_rules() -> None:
    assert as_short_name("BOOTMGR") == b"BOOTMGR    "
    assert as_short_name("BCD") == b"BCD        "
    assert as_short_name("BOOTX64.EFI") == b"BOOTX64 EFI"
    assert as_short_name("bootmgr") is None  # lower case -> long name
    assert as_short_name("TOOLONGNAME.TXT") is None
    assert as_short_name("A.B.C") is None
    taken: set[bytes] = set()
    first = make_short_name("efisys_noprompt.bin", taken)
    taken.add(first)
    second = make_short_name("efisys_prompt.bin", taken)
    assert (first, second) == (b"EFISYS~1BIN", b"EFISYS~2BIN")
    assert make_short_name("Fonts", set()) == b"FONTS      "  # fits 8.3 apart from case: no tail
    assert make_short_name(".hidden", set()) == b"HIDDEN     "


def test_lfn_entry_layout() -> None:
    """fatgen103 §7: the last (highest) ordinal has bit 0x40 and comes first; name padded 0000 then FFFF."""
    short = b"EFISYS~1BIN"
    entries = lfn_entries("efisys_noprompt.bin", short)
    assert len(entries) == lfn_count("efisys_noprompt.bin") == 2
    assert entries[0][0] == 0x42 and entries[1][0] == 0x01
    assert all(e[11] == 0x0F and e[13] == short_name_checksum(short) and e[26:28] == b"\0\0" for e in entries)
    tail = entries[0][1:11] + entries[0][14:26] + entries[0][28:32]  # characters 14..26 of the name
    assert tail.decode("utf-16-le").split("\0")[0] == "pt.bin"
    assert tail.endswith(b"\xff\xff")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=1, max_size=25, unique_by=str.casefold), data=st.data())
def test_random_names_round_trip(names: list[str], data: st.DataObject) -> None:
    require_tool("mdir")  # mtools
    fsck = require_tool("fsck.vfat")
    files = {}
    for i, name in enumerate(names):
        # a file may not share a name with a folder: such names go below the root only
        clash = name.casefold() in ("sub", "sub dir")
        folders = ["sub/", "Sub Dir/deeper/"] if clash else ["", "sub/", "Sub Dir/deeper/"]
        folder = data.draw(st.sampled_from(folders), label=f"folder{i}")
        files[folder + name] = os.urandom(data.draw(st.integers(0, 3000), label=f"size{i}"))
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "n.img"
        image.write_bytes(make_fat_image(files, size=2 << 20, timestamp=0))
        proc = subprocess.run([fsck, "-n", str(image)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
        out = Path(tmp) / "out"
        out.mkdir()
        subprocess.run(
            ["mcopy", "-s", "-n", "-i", str(image), "::/*", str(out)], check=True, capture_output=True
        )
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == files  # names come back exactly as given (case kept by the long names)


@pytest.mark.parametrize("count", [1, 12, 120])
def test_many_similar_names(tmp_path: Path, count: int) -> None:
    require_tool("mdir")  # mtools
    files = {f"Program Files/resource file {i:04d}.dll.mui": bytes([i % 256]) for i in range(count)}
    image = tmp_path / "s.img"
    image.write_bytes(make_fat_image(files, size=4 << 20, timestamp=0))
    fsck = require_tool("fsck.vfat")
    assert subprocess.run([fsck, "-n", str(image)], capture_output=True).returncode == 0
    listing = subprocess.run(
        ["mdir", "-i", str(image), "::/Program Files"], capture_output=True, text=True, check=True
    ).stdout
    assert "RESOUR~1 MUI" in listing
    assert f"{count + 2} file" in listing  # the files plus . and ..
