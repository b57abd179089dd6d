"""Property tests read back by hivex's library and regipy, not by pebuild's reader.

Names go beyond ASCII on purpose: Latin-1 names (regf stores them compressed, one byte
per character), other BCP names and names outside the BMP (UTF-16 surrogate pairs).
Every example checks the written file with `hivex_tree` (exact names, types, data bytes,
key timestamps) and `regipy_keys` (class names, timestamps); the model the file is
compared with is a plain dict kept by the test, upper-cased with Windows' table
(hive_check.upper_text), never pebuild's. Examples are few (hivex runs as a subprocess).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hive_check import check_structure, hivex_tree, regipy_classes, regipy_keys, upper_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers import hive_fixture, require_tool
from pebuild.hive import Hive, RegType, save_hive, serialize_hive

FILETIME_1970 = 116_444_736_000_000_000


def filetime(seconds: int) -> int:
    """Windows FILETIME of a Unix time (100 ns ticks since 1601), computed here, not by pebuild."""
    return seconds * 10_000_000 + FILETIME_1970


LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\\")
BMP = st.characters(
    min_codepoint=0x100, max_codepoint=0xFFFD, exclude_categories=["Cs"]
)  # no lone surrogates
ASTRAL = st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF)
NAME = (
    st.text(LATIN1, min_size=1, max_size=10)  # compressed (Latin-1) names
    | st.text(st.one_of(LATIN1, BMP, ASTRAL), min_size=1, max_size=10)
    | st.sampled_from(["Ärger", "ÄRGER", "ß", "ÿ", "Ÿ", "Привет", "ключ", "中文", "\U00010438", "\U00010410"])
)
CLASS = st.none() | st.text(st.one_of(LATIN1, BMP, ASTRAL), min_size=1, max_size=16)
STAMP = st.none() | st.integers(0, 2**63 - 1)
VALUE = st.tuples(
    st.sampled_from([RegType.BINARY, RegType.DWORD, RegType.SZ, RegType.QWORD, RegType.MULTI_SZ, 0x4242]),
    st.binary(max_size=40)
    | st.builds(lambda n, b: bytes([b]) * n, st.integers(16340, 17000), st.integers(0, 255)),
)
SLOW = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


@st.composite
def trees(draw, depth: int = 0):  # type: ignore[no-untyped-def]
    values = draw(st.dictionaries(NAME | st.just(""), VALUE, max_size=3))
    children = {} if depth >= 3 else draw(st.dictionaries(NAME, trees(depth + 1), max_size=3))
    return {"values": values, "keys": children, "class": draw(CLASS), "stamp": draw(STAMP)}


def _unique(mapping: dict) -> dict:
    """Keep the first of names Windows takes for the same (case-insensitive, its own table)."""
    seen: set[str] = set()
    out = {}
    for name, item in mapping.items():
        if upper_text(name) not in seen:
            seen.add(upper_text(name))
            out[name] = item
    return out


@settings(SLOW, max_examples=15)
@given(tree=trees(), minor=st.sampled_from([3, 5]))
def test_random_wide_trees_as_hivex_and_regipy_see_them(tree, minor: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A random tree with Latin-1, BMP and astral names, class names and explicit timestamps:
    hivex reads back every name, type and data byte and every key's FILETIME; regipy the classes."""
    require_tool("hivexregedit")
    hive = Hive.new("ROOT", minor=minor)
    expected: dict[str, tuple[dict[str, tuple[int, bytes]], str | None, int]] = {}

    def fill(key, node, path: str) -> None:  # type: ignore[no-untyped-def]
        values = {}
        for name, (vtype, data) in _unique(node["values"]).items():
            key.set_value(name, vtype, data)
            values[name] = (int(vtype), data)
        key.class_name = node["class"]
        expected[path] = (values, node["class"], filetime(1_000) if node["stamp"] is None else node["stamp"])
        for name, child in _unique(node["keys"]).items():
            fill(key.create(name), child, f"{path}\\{name}" if path else name)
        if node["stamp"] is not None:  # last: adding a subkey restamps its parent
            key.timestamp = node["stamp"]

    fill(hive.root, tree, "")
    out = tmp_path / "wide.hive"
    save_hive(hive, out, timestamp=1_000)
    check_structure(out.read_bytes())
    seen = hivex_tree(out)
    assert {p: (k.values, k.mtime) for p, k in seen.items()} == {
        p: (v, ts) for p, (v, _, ts) in expected.items()
    }
    nodes = regipy_keys(out)
    assert {p: (k.class_name, k.mtime) for p, k in nodes.items()} == {
        p: (c, ts) for p, (_, c, ts) in expected.items()
    }
    # Windows stores a name compressed exactly when every character is below U+0100
    assert {p: k.compressed for p, k in nodes.items()} == {
        p: max(p.rpartition("\\")[2] or "ROOT") < "\u0100" for p in expected
    }


# ------------------------------------------------------------------ edit sequences


@dataclass
class Model:
    """What the file must hold, kept by the test: upper path -> key facts."""

    keys: dict[str, ModelKey] = field(default_factory=dict)

    def touch(self, upper: str) -> None:
        self.keys[upper].stamp = None  # stamped with the save time, as any edited key


@dataclass
class ModelKey:
    path: str
    values: dict[str, tuple[str, int, bytes]]  # upper name -> (name as last set, type, data)
    class_name: str | None
    stamp: int | None  # None: edited since the last save
    new: bool = False  # created by the test (a Windows-written name may be stored either way)


KEY_NAMES = ["A", "a", "Ä", "ä", "Ж", "ж", "ÿ", "Ÿ", "中文", "\U00010438", "\U00010410", "Привет", "weird™"]
VALUE_NAMES = ["", "v", "V", "ä", "Ä", "Ж", "ж", "\U00010438", "symbols $£₤₧€", "abcd_äöüß"]
CLASSES = [None, "Cls", "Ключ", "\U00010438x", "ÄÖÜ"]


def _model_from_hivex(path: Path) -> Model:
    """The starting model of a Windows-written hive, as hivex and regipy read it (never pebuild)."""
    tree, classes = hivex_tree(path), regipy_classes(path)
    assert set(tree) == set(classes)
    model = Model()
    for where, item in tree.items():
        assert classes[where][1] == item.mtime  # the two readers agree on the original
        values = {upper_text(n): (n, t, d) for n, (t, d) in item.values.items()}
        model.keys[upper_text(where)] = ModelKey(where, values, classes[where][0], item.mtime)
    return model


def _run_edits(data, hive: Hive, model: Model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Random edits with saves in between (either mode), applied to `hive` and the model alike."""
    for step in range(data.draw(st.integers(1, 14), label="steps")):
        op = data.draw(st.sampled_from(["create", "delete", "set", "unset", "class", "stamp", "save"]))
        where = data.draw(st.sampled_from(sorted(model.keys)), label=f"key{step}")
        mk = model.keys[where]
        key = hive.root.open(mk.path) if mk.path else hive.root
        assert key is not None, mk.path
        if op == "create":
            name = data.draw(st.sampled_from(KEY_NAMES), label=f"name{step}")
            child = f"{where}\\{upper_text(name)}" if where else upper_text(name)
            key.create(name)
            if child not in model.keys:
                model.keys[child] = ModelKey(f"{mk.path}\\{name}" if mk.path else name, {}, None, None, True)
                model.touch(where)
        elif op == "delete" and where:
            parent_path, _, leaf = mk.path.rpartition("\\")
            (hive.root.open(parent_path) if parent_path else hive.root).delete_subkey(leaf)
            for p in [p for p in model.keys if p == where or p.startswith(where + "\\")]:
                del model.keys[p]
            model.touch(where.rpartition("\\")[0])
        elif op == "set":
            name = data.draw(st.sampled_from(VALUE_NAMES), label=f"value{step}")
            vtype, blob = data.draw(VALUE, label=f"data{step}")
            key.set_value(name, vtype, blob)
            if mk.values.get(upper_text(name)) != (name, int(vtype), blob):
                mk.values[upper_text(name)] = (name, int(vtype), blob)
                model.touch(where)
        elif op == "unset":
            name = data.draw(st.sampled_from(VALUE_NAMES), label=f"unset{step}")
            key.delete_value(name, missing_ok=True)
            if mk.values.pop(upper_text(name), None) is not None:
                model.touch(where)
        elif op == "class":
            key.class_name = mk.class_name = data.draw(st.sampled_from(CLASSES), label=f"class{step}")
            model.touch(where)
        elif op == "stamp":
            key.timestamp = mk.stamp = data.draw(st.integers(0, 2**63 - 1), label=f"stamp{step}")
        elif op == "save":
            mode = data.draw(st.sampled_from(["compact", "preserve"]), label=f"mode{step}")
            blob = serialize_hive(hive, mode, timestamp=10_000 + step)
            check_structure(blob)
            for item in model.keys.values():
                item.stamp = filetime(10_000 + step) if item.stamp is None else item.stamp
            hive = Hive.parse(blob)
    out = tmp_path / "out.hive"
    save_hive(hive, out, mode="preserve", timestamp=99_999)
    check_structure(out.read_bytes())
    stamp = filetime(99_999)
    want = {
        mk.path: ({n: (t, d) for n, t, d in mk.values.values()}, stamp if mk.stamp is None else mk.stamp)
        for mk in model.keys.values()
    }
    assert {p: (k.values, k.mtime) for p, k in hivex_tree(out).items()} == want
    classes = {mk.path: (mk.class_name, want[mk.path][1]) for mk in model.keys.values()}
    nodes = regipy_keys(out)
    assert {p: (k.class_name, k.mtime) for p, k in nodes.items()} == classes
    for where, node in nodes.items():  # new names: compressed exactly when all below U+0100
        if model.keys[upper_text(where)].new:
            assert node.compressed == (max(where.rpartition("\\")[2]) < "\u0100"), where


@settings(SLOW, max_examples=15)
@given(data=st.data(), minor=st.sampled_from([3, 5]))
def test_edit_sequences_through_hivex(data, minor: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Random edits of a new hive with non-ASCII names, saves in either mode in between and
    a preserve-mode save at the end: hivex and regipy see exactly the model."""
    require_tool("hivexregedit")
    hive = Hive.new("ROOT", minor=minor)
    model = Model({"": ModelKey("", {}, None, None)})
    _run_edits(data, hive, model, tmp_path)


REAL_HIVES = ["yarp-UnicodeHive", "hivex-special", "regipy-SAM"]


@settings(SLOW, max_examples=12)
@given(data=st.data(), name=st.sampled_from(REAL_HIVES))
def test_edit_sequences_on_real_hives_through_hivex(data, name: str, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Windows-written hives with UTF-16 (Cyrillic) and Latin-1 compressed names, edited at
    random and saved in preserve mode: every key nobody touched keeps what hivex read before
    (names, data, timestamps, classes) and the edits are exactly the model's."""
    require_tool("hivexregedit")
    tmp_path = tmp_path_factory.mktemp("real")
    path = hive_fixture(name, tmp_path / "in", logs=False)
    model = _model_from_hivex(path)
    _run_edits(data, Hive.open(path), model, tmp_path)


@pytest.mark.parametrize(
    "name", [*REAL_HIVES, "regipy-NTUSER.DAT", "regipy-BCD", "yarp-BigDataHive", "yarp-ManySubkeysHive"]
)
def test_real_hive_rewrites_keep_hivex_facts(name: str, tmp_path: Path) -> None:
    """No edits, both modes: hivex's and regipy's views (timestamps and classes included) unchanged."""
    require_tool("hivexregedit")
    path = hive_fixture(name, tmp_path / "in", logs=False)
    before, nodes = hivex_tree(path), regipy_keys(path)
    for mode in ("compact", "preserve"):
        out = tmp_path / mode
        save_hive(Hive.open(path), out, mode=mode, timestamp=0)
        check_structure(out.read_bytes())
        assert hivex_tree(out) == before
        assert regipy_keys(out) == nodes


@pytest.mark.parametrize(("count", "minor"), [(1012, 5), (1013, 5), (2500, 3)])
def test_list_sizes_around_the_leaf_limit_as_hivex_sees_them(count: int, minor: int, tmp_path: Path) -> None:
    """Around the 1012-entry leaf (one lh/lf, then ri of leaves): hivex finds every subkey."""
    require_tool("hivexregedit")
    hive = Hive.new(minor=minor)
    for i in range(count):
        hive.root.create(f"K{i}").set_value("i", RegType.DWORD, i)
    save_hive(hive, tmp_path / "h", timestamp=0)
    seen = hivex_tree(tmp_path / "h")
    assert list(seen)[1:] == sorted((f"K{i}" for i in range(count)), key=str.upper)  # hivex's order
    assert all(seen[f"K{i}"].values == {"i": (RegType.DWORD, i.to_bytes(4, "little"))} for i in range(count))
