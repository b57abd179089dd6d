"""Property tests: random key/value trees survive the writer, read back by us and by hivex."""

from __future__ import annotations

from pathlib import Path

import pytest
from hive_check import check_structure, hivex_view, reg_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers import require_tool
from pebuild.hive import Hive, RegType, save_hive, serialize_hive

NAME = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x24F, exclude_characters="\\"),
    min_size=1,
    max_size=12,
)
ASCII_NAME = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="\\"),
    min_size=1,
    max_size=12,
)
VALUE = st.tuples(
    st.sampled_from([RegType.BINARY, RegType.DWORD, RegType.SZ, RegType.QWORD, 0x4242]),
    st.binary(max_size=40)
    | st.builds(lambda n, b: bytes([b]) * n, st.integers(16340, 17000), st.integers(0, 255)),
)


@st.composite
def trees(draw, depth: int = 0, names=NAME):  # type: ignore[no-untyped-def]
    values = draw(st.dictionaries(names, VALUE, max_size=3, dict_class=dict))
    children = {} if depth >= 3 else draw(st.dictionaries(names, trees(depth + 1, names), max_size=3))
    return {"values": values, "keys": children}


def _unique(mapping: dict) -> dict:  # case-insensitive names: keep the first of each
    seen: dict[str, object] = {}
    out = {}
    for name, item in mapping.items():
        if name.upper() not in seen:
            seen[name.upper()] = item
            out[name] = item
    return out


def _build(tree, minor: int) -> Hive:  # type: ignore[no-untyped-def]
    hive = Hive.new("ROOT", minor=minor)

    def fill(key, node) -> None:  # type: ignore[no-untyped-def]
        for name, (vtype, data) in _unique(node["values"]).items():
            key.set_value(name, vtype, data)
        for name, child in _unique(node["keys"]).items():
            fill(key.create(name), child)

    fill(hive.root, tree)
    return hive


def _view(tree, prefix: str = "") -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    view = {prefix: {n: reg_data(t, d) for n, (t, d) in _unique(tree["values"]).items()}}
    for name, child in _unique(tree["keys"]).items():
        view.update(_view(child, f"{prefix}\\{name}" if prefix else name))
    return view


def _our_view(hive: Hive) -> dict[str, dict[str, str]]:
    return {k.path: {v.name: reg_data(v.type, v.data) for v in k.values} for k in hive.root.walk()}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(tree=trees(), minor=st.sampled_from([3, 5]))
def test_random_trees_round_trip(tree, minor: int) -> None:  # type: ignore[no-untyped-def]
    data = serialize_hive(_build(tree, minor), timestamp=0)
    check_structure(data)
    assert _our_view(Hive.parse(data)) == _view(tree)
    edited = Hive.parse(data)
    edited.root.create("added").set_value("x", RegType.DWORD, 1)
    again = Hive.parse(serialize_hive(edited, "preserve", timestamp=1))
    expected = _view(tree)
    expected.setdefault("added", {})["x"] = reg_data(RegType.DWORD, (1).to_bytes(4, "little"))
    if any(p.upper() == "ADDED" for p in _view(tree) if "\\" not in p and p):
        return  # name collision with a generated key: covered by the unit tests
    assert _our_view(again) == expected


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(tree=trees(names=ASCII_NAME), minor=st.sampled_from([3, 5]))
def test_random_trees_as_hivex_sees_them(tree, minor: int, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_tool("hivexregedit")
    out = tmp_path / "prop.hive"
    save_hive(_build(tree, minor), out, timestamp=0)
    assert hivex_view(out) == _view(tree)


@pytest.mark.parametrize("count", [0, 1, 1012, 1013, 2500])
def test_list_sizes_around_the_leaf_limit(count: int) -> None:
    hive = Hive.new(minor=5)
    for i in range(count):
        hive.root.create(f"K{i}")
    data = serialize_hive(hive, timestamp=0)
    assert check_structure(data)["keys"] == count + 1
    assert [k.name for k in Hive.parse(data).root.subkeys] == sorted(
        (f"K{i}" for i in range(count)), key=str.upper
    )


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.sampled_from(["A", "B", "A\\C", "B\\D", "A\\C\\E", "F"])),
        st.tuples(st.just("delete"), st.sampled_from(["A", "B", "A\\C", "B\\D", "F"])),
        st.tuples(
            st.just("set"), st.sampled_from(["", "A", "B\\D", "A\\C"]), st.sampled_from(["x", "Y", "big"])
        ),
        st.tuples(st.just("unset"), st.sampled_from(["", "A", "B\\D"]), st.sampled_from(["x", "y", "BIG"])),
        st.tuples(st.just("save"), st.sampled_from(["compact", "preserve"])),
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(ops=OPS, minor=st.sampled_from([3, 5]))
def test_edit_sequences_in_preserve_mode(ops, minor: int) -> None:  # type: ignore[no-untyped-def]
    """Random edits with saves in between: the file stays valid and matches a plain dict model."""
    model: dict[str, dict[str, bytes]] = {"": {}}
    hive = Hive.new(minor=minor)
    for counter, op in enumerate(ops, start=1):
        if op[0] == "create":
            hive.root.create(op[1])
            parts = op[1].split("\\")
            for i in range(1, len(parts) + 1):
                model.setdefault("\\".join(parts[:i]).upper(), {})
        elif op[0] == "delete":
            if op[1].upper() in model:
                parent, _, name = op[1].rpartition("\\")
                hive.root.open(parent).delete_subkey(name)
                for path in [p for p in model if p == op[1].upper() or p.startswith(op[1].upper() + "\\")]:
                    del model[path]
        elif op[0] == "set":
            if op[1].upper() in model:
                data = bytes([counter]) * (20000 if op[2] == "big" else counter % 9)
                hive.root.open(op[1]).set_value(op[2], RegType.BINARY, data)
                model[op[1].upper()][op[2].upper()] = data
        elif op[0] == "unset":
            if op[1].upper() in model:
                hive.root.open(op[1]).delete_value(op[2], missing_ok=True)
                model[op[1].upper()].pop(op[2].upper(), None)
        else:
            data = serialize_hive(hive, op[1], timestamp=counter)
            check_structure(data)
            hive = Hive.parse(data)
    data = serialize_hive(hive, "preserve", timestamp=0)
    check_structure(data)
    view = {k.path.upper(): {v.name.upper(): v.data for v in k.values} for k in Hive.parse(data).root.walk()}
    assert view == model
