"""Property tests: random key/value trees survive the writer, read back by us and by hivex."""

from __future__ import annotations

from pathlib import Path

import pytest
from hive_check import check_structure, hivex_view, reg_data
from hypothesis import HealthCheck, example, given, settings
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
@example(tree={"values": {}, "keys": {"ADDED0": {"values": {"x": (RegType.SZ, b"")}, "keys": {}}}}, minor=3)
def test_random_trees_round_trip(tree, minor: int) -> None:  # type: ignore[no-untyped-def]
    data = serialize_hive(_build(tree, minor), timestamp=0)
    check_structure(data)
    assert _our_view(Hive.parse(data)) == _view(tree)
    # a preserve-mode save after adding a key whose name no generated root key has (any case)
    taken = {p.upper() for p in _view(tree) if "\\" not in p}
    added = next(f"added{i}" for i in range(len(taken) + 1) if f"ADDED{i}" not in taken)
    edited = Hive.parse(data)
    edited.root.create(added).set_value("x", RegType.DWORD, 1)
    again = Hive.parse(serialize_hive(edited, "preserve", timestamp=1))
    expected = _view(tree)
    expected[added] = {"x": reg_data(RegType.DWORD, (1).to_bytes(4, "little"))}
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


REAL = "regipy-SAM"  # a hive Windows wrote: 65 keys, regf 1.3, lf lists, several sk cells
NAMES = ["Pebuild", "PEBUILD", "Domains", "x", "Ünï", "Names"]


def _regipy_view(path: Path) -> dict[str, set[str]]:
    from regipy.registry import RegistryHive

    reg = RegistryHive(str(path))
    root = reg.root.name
    out = {}
    for sub in reg.recurse_subkeys(as_json=False):
        key = sub.path.replace(f"\\{root}", "", 1).lstrip("\\").upper()
        out[key] = {(v.name or "").upper().replace("(DEFAULT)", "") for v in sub.values}
    return out


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_edit_sequences_on_a_real_hive(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Random edits of a real SAM hive, saved in either mode: pebuild, hivex and regipy agree
    with a dict model of the edits (12 examples per run, derandomized under CI)."""
    from _helpers import HIVE_FIXTURES, hive_fixture

    if not (HIVE_FIXTURES / REAL).is_file():
        pytest.skip(f"hive fixture {REAL} not found")
    require_tool("hivexregedit")
    path = hive_fixture(REAL, tmp_path / "in", logs=False)
    hive = Hive.open(path)
    # model: upper path -> (path, {upper value name: (name, reg_data)})
    model = {
        k.path.upper(): (k.path, {v.name.upper(): (v.name, reg_data(v.type, v.data)) for v in k.values})
        for k in hive.root.walk()
    }
    for step in range(data.draw(st.integers(1, 12), label="steps")):
        op = data.draw(st.sampled_from(["create", "set", "unset", "delete"]), label=f"op{step}")
        where = data.draw(st.sampled_from(sorted(model)), label=f"key{step}")
        display, values = model[where]
        key = hive.root.open(display) if display else hive.root
        assert key is not None
        if op == "create":
            name = data.draw(st.sampled_from(NAMES), label=f"name{step}")
            child = key.create(name)
            full = f"{display}\\{child.name}" if display else child.name
            model.setdefault(full.upper(), (full, {}))
        elif op == "set":
            name = data.draw(st.sampled_from(["", "F", "V", "Probe", "ünï"]), label=f"value{step}")
            vtype = data.draw(
                st.sampled_from([RegType.BINARY, RegType.DWORD, RegType.SZ, 0x4242]), label=f"t{step}"
            )
            blob = data.draw(st.binary(max_size=64) | st.just(b"\x01" * 20000), label=f"d{step}")
            key.set_value(name, vtype, blob)
            old = values.get(name.upper())
            values[name.upper()] = (old[0] if old else name, reg_data(vtype, blob))
        elif op == "unset" and values:
            upper = data.draw(st.sampled_from(sorted(values)), label=f"unset{step}")
            key.delete_value(values.pop(upper)[0])
        elif op == "delete" and display:
            parent, _, leaf = display.rpartition("\\")
            (hive.root.open(parent) if parent else hive.root).delete_subkey(leaf)
            for p in [p for p in model if p == where or p.startswith(where + "\\")]:
                del model[p]
    mode = data.draw(st.sampled_from(["preserve", "compact"]), label="mode")
    out = tmp_path / "out"
    save_hive(hive, out, mode=mode, timestamp=0)
    check_structure(out.read_bytes())
    expected = {p: {name: value for name, value in vals.values()} for p, vals in model.values()}
    assert _our_view(Hive.open(out)) == expected
    assert hivex_view(out) == expected
    # regipy decodes Latin-1 (compressed) names as UTF-8, lossily: non-ASCII names by count only
    theirs = _regipy_view(out)
    ours = {p.upper(): {n.upper() for n in vals} for p, vals in expected.items()}
    assert len(theirs) == len(ours)
    assert sum(map(len, theirs.values())) == sum(map(len, ours.values()))
    assert {p: {n for n in v if n.isascii()} for p, v in theirs.items() if p.isascii()} == {
        p: {n for n in v if n.isascii()} for p, v in ours.items() if p.isascii()
    }
