"""Transaction-log replay on the real dirty hives, checked against yarp's and regipy's recoveries.

Oracles (../shared/fixtures/hives/README.md): yarp's test_dirty_new1 -- NewDirtyHive with
LOG1+LOG2 applies 4 entries and its bins become byte-identical to the hive Windows 10
recovered; regipy's apply_transaction_logs -- 315 / 158 / 132 dirty pages for SYSTEM_B,
UsrClass.dat and transactions_NTUSER.DAT. regipy also runs here as an independent replayer
(given the logs in the order Windows uses them) and hivex reads the clean result.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest
from hive_check import check_structure, hivex_tree, hivex_view, reg_data, regipy_keys, regipy_replay

from _helpers import HIVE_FIXTURES, hive_fixture, require_tool
from pebuild.errors import FormatError
from pebuild.hive import Hive, find_logs, save_hive

pytestmark = pytest.mark.skipif(not HIVE_FIXTURES.is_dir(), reason=f"hive fixtures not at {HIVE_FIXTURES}")

#: hive -> (logs Windows applies, in order; entries; dirty pages)
REPLAYS = {
    "yarp-NewDirtyHive": (["yarp-NewDirtyHive.LOG1", "yarp-NewDirtyHive.LOG2"], 4, 4),
    "regipy-transactions_NTUSER.DAT": (["regipy-transactions_ntuser.dat.log1"], 23, 132),
    "regipy-UsrClass.dat": (["regipy-UsrClass.dat.LOG1", "regipy-UsrClass.dat.LOG2"], 14, 158),
    "regipy-SYSTEM_B": (["regipy-SYSTEM_B.LOG1", "regipy-SYSTEM_B.LOG2"], 24, 315),
}


def _view(hive: Hive) -> dict[str, dict[str, str]]:
    return {k.path: {v.name: reg_data(v.type, v.data) for v in k.values} for k in hive.root.walk()}


def _bins(data: bytes) -> bytes:
    return data[4096 : 4096 + struct.unpack_from("<I", data, 40)[0]]


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_replay_matches_the_oracles(name: str, tmp_path: Path) -> None:
    logs, entries, pages = REPLAYS[name]
    path = hive_fixture(name, tmp_path)
    hive = Hive.open(path)
    assert hive.replay is not None
    assert (hive.replay.applied, hive.replay.entries, hive.replay.pages) == (logs, entries, pages)
    assert sorted(p.name for p in find_logs(path)) == sorted(
        p.name for p in tmp_path.iterdir() if p.name != name
    )


def test_new_dirty_hive_equals_what_windows_10_recovered(tmp_path: Path) -> None:
    """yarp test_dirty_new1: after replay everything from offset 4096 is Windows 10's file."""
    path = hive_fixture("yarp-NewDirtyHive", tmp_path)
    hive = Hive.open(path)
    windows = (HIVE_FIXTURES / "yarp-RecoveredHive_Windows10").read_bytes()
    assert hive._image is not None
    assert hive._image.data[4096:] == windows[4096:]
    before = Hive.open(path, allow_dirty=True, logs=False)
    assert {"Key1", "Key2"} <= {k.name for k in before.root.subkeys}
    paths = {k.path for k in hive.root.walk()}
    assert {"Key3\\Key3_1", "Key3\\Key3_2", "Key3\\Key3_3"} <= paths
    assert not {"Key1", "Key2\\Key2_1", "Key2\\Key2_2"} & paths
    # the order of LOG1/LOG2 given does not matter: the sequence numbers decide
    swapped = {n: (tmp_path / n).read_bytes() for n in reversed(REPLAYS["yarp-NewDirtyHive"][0])}
    again = Hive.parse(path.read_bytes(), logs=swapped)
    assert again._image is not None and again._image.data[4096:] == windows[4096:]


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_regipy_replay_gives_the_same_bins(name: str, tmp_path: Path) -> None:
    """regipy applies every HvLE entry of a log, secondary log first: handed the logs in the
    order Windows uses, its restored file must hold exactly our recovered bins."""
    from regipy.recovery import apply_transaction_logs

    logs, _entries, _pages = REPLAYS[name]
    path = hive_fixture(name, tmp_path)
    restored = tmp_path / "restored"
    logging.disable(logging.CRITICAL)
    try:
        if len(logs) == 2:
            apply_transaction_logs(
                str(path),
                str(tmp_path / logs[1]),
                secondary_log_path=str(tmp_path / logs[0]),
                restored_hive_path=str(restored),
            )
        else:
            apply_transaction_logs(str(path), str(tmp_path / logs[0]), restored_hive_path=str(restored))
    finally:
        logging.disable(logging.NOTSET)
    hive = Hive.open(path)
    assert hive._image is not None
    assert _bins(hive._image.data) == _bins(restored.read_bytes())


# compact re-lays out every key: SYSTEM_B's 35k keys are covered by preserve mode only (time)
WRITES = [
    (n, m)
    for n in sorted(REPLAYS)
    for m in ("preserve", "compact")
    if (n, m) != ("regipy-SYSTEM_B", "compact")
]


@pytest.mark.parametrize(("name", "mode"), WRITES)
def test_written_result_is_clean_and_hivex_agrees(name: str, mode: str, tmp_path: Path) -> None:
    require_tool("hivexregedit")
    path = hive_fixture(name, tmp_path / "in")
    hive = Hive.open(path)
    view = _view(hive)
    out = tmp_path / "out.hive"
    save_hive(hive, out, mode=mode, timestamp=1_700_000_000)
    data = out.read_bytes()
    assert hive.replay is not None
    seq = hive.replay.sequence + 1
    assert struct.unpack_from("<II", data, 4) == (seq, seq)
    check_structure(data)
    clean = Hive.open(out, logs=False)  # needs no log, is not dirty
    assert clean.replay is None and clean.read_only is None
    assert _view(clean) == view
    assert hivex_view(out) == view
    assert all(p.stat().st_size for p in find_logs(path))  # saved elsewhere: the logs stay


@pytest.mark.parametrize(("name", "mode"), WRITES)
def test_edited_replay_equals_regipys_replay_plus_the_edit(name: str, mode: str, tmp_path: Path) -> None:
    """Without pebuild's reader: regipy replays the same logs (hive_check.regipy_replay) and
    hivex + regipy read both files. Every key's names, types, data, timestamp and class name
    agree; the only difference is the key pebuild added (stamped with the save time)."""
    require_tool("hivexregedit")
    path = hive_fixture(name, tmp_path / "in")
    logs = [tmp_path / "in" / log for log in REPLAYS[name][0]]
    theirs = regipy_replay(path, logs, tmp_path / "regipy.hive")
    hive = Hive.open(path)
    hive.root.create("Pebuild\\Ключ").set_value("Probe", 4, (7).to_bytes(4, "little"))
    out = tmp_path / "out.hive"
    save_hive(hive, out, mode=mode, timestamp=1_700_000_000)
    ours, want = hivex_tree(out), hivex_tree(theirs)
    stamp = 1_700_000_000 * 10_000_000 + 116_444_736_000_000_000
    assert (ours.pop("Pebuild").mtime, ours["Pebuild\\Ключ"].mtime, ours[""].mtime) == (stamp, stamp, stamp)
    assert ours.pop("Pebuild\\Ключ").values == {"Probe": (4, (7).to_bytes(4, "little"))}
    assert want.pop("").values == ours.pop("").values  # the root: only its subkey list and stamp changed
    assert ours == want
    nodes, expected = regipy_keys(out), regipy_keys(theirs)
    for key in ("", "Pebuild", "Pebuild\\Ключ"):
        nodes.pop(key), expected.pop(key, None)
    assert nodes == expected  # class names (SYSTEM's Lsa\JD, Skew1, GBG, Data), stamps, name encodings


def test_saving_in_place_empties_the_logs(tmp_path: Path) -> None:
    require_tool("hivexregedit")
    path = hive_fixture("regipy-transactions_NTUSER.DAT", tmp_path)
    hive = Hive.open(path)
    hive.root.create("Pebuild").set_value("Probe", 4, (7).to_bytes(4, "little"))
    save_hive(hive, path, mode="preserve", timestamp=0)
    logs = find_logs(path)
    assert [p.name for p in logs] == [
        "regipy-transactions_ntuser.dat.log1",
        "regipy-transactions_ntuser.dat.log2",
    ]
    assert all(p.stat().st_size == 0 for p in logs)
    again = Hive.open(path)
    assert again.replay is None
    assert again.root.open("Pebuild").get_value("Probe").as_python() == 7
    assert len(list(again.root.walk())) == 3105 + 1
    seen = hivex_tree(path)  # hivex opens the saved file alone (logs emptied) and sees the edit
    assert len(seen) == 3105 + 1 and seen["Pebuild"].values == {"Probe": (4, (7).to_bytes(4, "little"))}


def test_regipy_reads_the_written_result(tmp_path: Path) -> None:
    """regipy sees the same keys and values (it decodes non-ASCII compressed names its own
    lossy way, so those paths are compared by count)."""
    from regipy.registry import RegistryHive

    path = hive_fixture("regipy-transactions_NTUSER.DAT", tmp_path / "in")
    hive = Hive.open(path)
    out = tmp_path / "out"
    save_hive(hive, out, mode="preserve", timestamp=0)
    reg = RegistryHive(str(out))
    root = reg.root.name
    theirs = {
        sub.path.replace(f"\\{root}", "", 1).lstrip("\\"): len(sub.values)
        for sub in reg.recurse_subkeys(as_json=False)
    }
    ours = {k.path: len(k.values) for k in hive.root.walk()}
    assert len(theirs) == len(ours) and sum(theirs.values()) == sum(ours.values())
    ascii_ours = {p: n for p, n in ours.items() if p.isascii()}
    assert {p: n for p, n in theirs.items() if p in ascii_ours} == ascii_ours


def test_stale_log_is_ignored_and_said_so(tmp_path: Path) -> None:
    """transactions_NTUSER.DAT: log2 starts at 562 while the hive is at 566 (already applied)."""
    path = hive_fixture("regipy-transactions_NTUSER.DAT", tmp_path)
    hive = Hive.open(path)
    assert hive.replay is not None
    assert any("log2 is stale" in note and "562" in note for note in hive.replay.notes)
    only_stale = {"x.log2": (tmp_path / "regipy-transactions_ntuser.dat.log2").read_bytes()}
    with pytest.raises(FormatError, match=r"dirty .*nothing to replay .*stale"):
        Hive.parse(path.read_bytes(), logs=only_stale)


def test_dirty_without_logs_is_refused_then_read_only(tmp_path: Path) -> None:
    src = hive_fixture("regipy-SECURITY", tmp_path, logs=False)
    with pytest.raises(
        FormatError, match=r"dirty \(sequence numbers 107 != 106\).*no transaction log"
    ) as info:
        Hive.open(src)
    assert info.value.path == str(src)
    hive = Hive.open(src, allow_dirty=True)
    assert hive.read_only and len(list(hive.root.walk())) == 100
    before = src.read_bytes()
    with pytest.raises(FormatError, match="pebuild will not write"):
        save_hive(hive, src, mode="preserve")
    assert src.read_bytes() == before
