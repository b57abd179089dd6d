"""Real Windows-written hives (the BCD fixtures): parse, rewrite both ways, hivex/regipy agree."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hive_check import check_structure, hivex_export, hivex_view

from _helpers import BCD_FIXTURES, require_tool
from pebuild.hive import Hive, RegType, save_hive, serialize_hive

FIXTURES = sorted(BCD_FIXTURES.glob("*.bcd")) if BCD_FIXTURES.is_dir() else []
pytestmark = pytest.mark.skipif(not FIXTURES, reason=f"shared BCD fixtures not found at {BCD_FIXTURES}")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.parametrize("fixture", FIXTURES, ids=_ids(FIXTURES))
@pytest.mark.parametrize("mode", ["compact", "preserve"])
def test_rewrite_keeps_hivex_view(fixture: Path, mode: str, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    hive = Hive.open(fixture)
    out = tmp_path / "out.bcd"
    save_hive(hive, out, mode=mode, timestamp=1_700_000_000)
    assert hivex_export(out) == (fixture.parent / (fixture.name + ".reg")).read_text()
    counts = check_structure(out.read_bytes())
    assert counts["keys"] == sum(1 for _ in hive.root.walk())


@pytest.mark.parametrize("fixture", FIXTURES, ids=_ids(FIXTURES))
def test_preserve_without_edits_keeps_every_cell(fixture: Path) -> None:
    original = fixture.read_bytes()
    out = serialize_hive(Hive.parse(original), "preserve", timestamp=1_700_000_000)
    bins_size = struct.unpack_from("<I", original, 40)[0]
    assert out[4096 : 4096 + bins_size] == original[4096 : 4096 + bins_size]
    seq = max(struct.unpack_from("<II", original, 4)) + 1
    assert struct.unpack_from("<II", out, 4) == (seq, seq)


@pytest.mark.parametrize("fixture", FIXTURES, ids=_ids(FIXTURES))
def test_regipy_reads_our_rewrite(fixture: Path, tmp_path: Path) -> None:
    from regipy.registry import RegistryHive

    hive = Hive.open(fixture)
    out = tmp_path / "out.bcd"
    save_hive(hive, out, mode="compact", timestamp=0)
    ours = {}
    for key in hive.root.walk():
        ours[key.path] = sorted((v.name, v.type, v.data) for v in key.values)
    theirs = {}
    reg = RegistryHive(str(out))
    root_name = reg.root.name
    for sub in reg.recurse_subkeys(as_json=False):
        path = sub.path.replace(f"\\{root_name}", "", 1).lstrip("\\")
        theirs[path] = len(sub.values)
    assert set(theirs) == set(ours)
    assert all(theirs[p] == len(ours[p]) for p in theirs)


def test_preserve_edit_touches_only_the_changed_key(bcd_fixtures: Path, tmp_path: Path) -> None:
    """Change one element: original cells stay where they were, hivex sees exactly the edit."""
    require_tool("hivexregedit")
    fixture = bcd_fixtures / "wds-default-x64-pxe.bcd"
    original = fixture.read_bytes()
    hive = Hive.parse(original)
    path = "Objects\\{9dea862c-5cdd-4e70-acc1-f32b344d4795}\\Elements\\25000004"
    hive.root.open(path).set_value("Element", RegType.BINARY, (5).to_bytes(8, "little"))
    out = tmp_path / "edited.bcd"
    save_hive(hive, out, mode="preserve", timestamp=1_700_000_000)
    data = out.read_bytes()
    check_structure(data)
    expected = (fixture.parent / (fixture.name + ".reg")).read_text()
    expected = expected.replace(
        f'[HKEY_LOCAL_MACHINE\\BCD00000000\\{path}]\n"Element"=hex(3):1e,00,',
        f'[HKEY_LOCAL_MACHINE\\BCD00000000\\{path}]\n"Element"=hex(3):05,00,',
    )
    assert hivex_export(out) == expected
    assert struct.unpack_from("<I", data, 36) == struct.unpack_from("<I", original, 36)
    differing = sum(1 for a, b in zip(original[4096:], data[4096:], strict=False) if a != b)
    assert differing < 32  # the nk timestamp and the value's data bytes, nothing else


def test_preserve_delete_frees_and_fixes_refcounts(bcd_fixtures: Path, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    hive = Hive.open(bcd_fixtures / "win10-setup-pcat.bcd")
    objects = hive.root.subkey("Objects")
    before = len(objects.subkeys)
    objects.delete_subkey("{b2721d73-1db4-4c62-bf78-c548a880142d}")
    new = objects.create("{00000000-0000-0000-0000-000000000001}\\Description")
    new.set_value("Type", RegType.DWORD, 0x10200003)
    out = tmp_path / "edited.bcd"
    save_hive(hive, out, mode="preserve", timestamp=0)
    counts = check_structure(out.read_bytes())
    assert counts["keys"] == sum(1 for _ in Hive.open(out).root.walk())
    text = hivex_export(out)
    assert "{b2721d73-1db4-4c62-bf78-c548a880142d}]" not in text
    gone = "objects\\{b2721d73-1db4-4c62-bf78-c548a880142d}"
    view, original = hivex_view(out), hivex_view(bcd_fixtures / "win10-setup-pcat.bcd")
    assert any(k.lower().startswith(gone) for k in original)
    assert not any(k.lower().startswith(gone) for k in view)  # the object and all its elements
    kept = {k: v for k, v in original.items() if not k.lower().startswith(gone)}
    assert {k: v for k, v in view.items() if "00000000-0000-0000-0000-000000000001" not in k} == kept
    assert '{00000000-0000-0000-0000-000000000001}\\Description]\n"Type"=dword:10200003' in text
    assert len(Hive.open(out).root.subkey("Objects").subkeys) == before
