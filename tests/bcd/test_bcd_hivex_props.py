"""Random `BcdStore.set`/`delete` sequences on a Windows-written store, read back by hivex.

The model is the store as hivex read it before the edits (hive_check.bcd_elements), changed
the way bcdedit documents each element's format: integers as 8-byte little-endian REG_BINARY,
booleans as one byte, strings as REG_SZ (UTF-16LE + NUL). pebuild's reader is not consulted.
"""

from __future__ import annotations

from pathlib import Path

from hive_check import bcd_elements, check_structure, reg_sz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers import BCD_FIXTURES, require_tool
from pebuild.bcd import BcdStore

FIXTURE = BCD_FIXTURES / "win10-setup-pcat.bcd"
BOOTMGR = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}"
LOADER = "{7619dcc9-fafe-11d9-b411-000476eba25f}"  # the store's {default}
#: element name -> (id, how its value is stored)
ELEMENTS = {
    "timeout": ("25000004", "int"),
    "loadoptions": ("12000030", "str"),
    "locale": ("12000005", "str"),
    "description": ("12000004", "str"),
    "ems": ("260000b0", "bool"),
    "bootmenupolicy": ("250000c2", "int"),
}
TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFFFD, exclude_categories=["Cs"]), max_size=20
)
VALUES = {"int": st.integers(0, 2**64 - 1), "bool": st.booleans(), "str": TEXT}


@st.composite
def steps(draw):  # type: ignore[no-untyped-def]
    """(op, (alias, object key), element name, a value of the element's format)."""
    name = draw(st.sampled_from(sorted(ELEMENTS)))
    kind = ELEMENTS[name][1]
    value = draw(st.integers(0, 1) if name == "bootmenupolicy" else VALUES[kind])
    obj = draw(st.sampled_from([("{bootmgr}", BOOTMGR), ("{default}", LOADER)]))
    return draw(st.sampled_from(["set", "delete"])), obj, name, value


def _stored(kind: str, value: object) -> tuple[int, bytes]:
    if kind == "int":
        return 3, int(value).to_bytes(8, "little")  # type: ignore[call-overload]
    if kind == "bool":
        return 3, b"\x01" if value else b"\x00"
    return 1, reg_sz(str(value))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(steps(), min_size=1, max_size=10), mode=st.sampled_from(["preserve", "compact"]))
def test_random_set_delete_sequences_as_hivex_sees_them(edits, mode: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_tool("hivexregedit")
    model = bcd_elements(FIXTURE)
    store = BcdStore.open(FIXTURE)
    for op, (alias, guid), name, value in edits:
        eid, kind = ELEMENTS[name]
        if op == "delete":
            if eid in model[guid]:
                store.delete(alias, name)
                del model[guid][eid]
            continue
        store.set(alias, name, value)
        model[guid][eid] = _stored(kind, value)
    out = tmp_path / "BCD"
    store.write(out, timestamp=0, mode=mode)
    check_structure(out.read_bytes())
    assert bcd_elements(out) == model
