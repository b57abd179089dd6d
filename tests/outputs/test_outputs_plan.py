"""The output plan fails in one line, before any work, on every path it cannot honour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pebuild.errors import OutputError, UsageError
from pebuild.outputs import TREE, Output, plan_outputs


def test_resolves_parents_keeps_names_and_order(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    plan = plan_outputs([Output("iso", tmp_path / "link" / "a.iso"), Output("pxe", tmp_path / "pxe/", TREE)])
    assert [o.path for o in plan.outputs] == [tmp_path / "real" / "a.iso", tmp_path / "pxe"]
    assert plan.parents == sorted({tmp_path, tmp_path / "real"})
    assert plan.get("pxe").kind == TREE and not plan.has("usb")


@pytest.mark.parametrize("bad", [".", "/", "x/..", ""])
def test_a_path_without_a_name_is_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="needs a name"):
        plan_outputs([Output("pxe", Path(bad) if bad else bad, TREE)])  # type: ignore[arg-type]


def test_missing_or_unwritable_parent(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="directory does not exist") as info:
        plan_outputs([Output("usb", tmp_path / "nonexistent" / "u.img")])
    assert info.value.path == str(tmp_path / "nonexistent")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(OutputError, match="not writable"):
            plan_outputs([Output("iso", ro / "a.iso")])


def test_wrong_kinds(tmp_path: Path) -> None:
    (tmp_path / "x.iso").write_bytes(b"iso")
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputError, match="is a file, but the media output is a directory tree"):
        plan_outputs([Output("media", tmp_path / "x.iso", TREE)])
    with pytest.raises(OutputError, match="is a directory, but the manifest output is a file"):
        plan_outputs([Output("manifest", tmp_path / "dir")])
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OutputError, match="not a regular file"):
        plan_outputs([Output("iso", tmp_path / "fifo")])


def test_collisions_and_nesting(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="both the iso and the usb output"):
        plan_outputs([Output("iso", tmp_path / "a"), Output("usb", tmp_path / "." / "a")])
    with pytest.raises(UsageError, match="the iso output would be inside the media output"):
        plan_outputs([Output("media", tmp_path / "m", TREE), Output("iso", tmp_path / "m" / "a.iso")])
    with pytest.raises(UsageError, match="the pxe output would be inside the media output"):
        (tmp_path / "m").mkdir()
        plan_outputs([Output("pxe", tmp_path / "m" / "pxe", TREE), Output("media", tmp_path / "m", TREE)])


def test_outputs_and_inputs_never_contain_each_other(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    kit.mkdir()
    (tmp_path / "src.wim").write_bytes(b"MSWIM")
    with pytest.raises(UsageError, match="inside the input"):
        plan_outputs([Output("iso", kit / "out.iso")], inputs=[kit])
    with pytest.raises(UsageError, match="would replace the input"):
        plan_outputs([Output("media", tmp_path, TREE)], inputs=[kit])
    with pytest.raises(UsageError, match="would overwrite its input"):
        plan_outputs([Output("iso", tmp_path / "src.wim")], inputs=[tmp_path / "src.wim"])
    (tmp_path / "alias").symlink_to("kit")
    with pytest.raises(UsageError, match="would overwrite its input"):
        plan_outputs([Output("pxe", tmp_path / "alias", TREE)], inputs=[kit])
    plan_outputs([Output("iso", tmp_path / "ok.iso")], inputs=[kit, tmp_path / "src.wim"])
