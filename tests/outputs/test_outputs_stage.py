"""Transaction: stage beside the targets, publish all or nothing, finish a publish cut short by SIGKILL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pebuild.errors import OutputError
from pebuild.outputs import MARKER, TREE, Output, OutputOptions, Transaction, clean_directory, plan_outputs
from pebuild.outputs import area as area_mod


def outputs(root: Path) -> list[Output]:
    return [
        Output("iso", root / "a.iso"),
        Output("pxe", root / "pxe", TREE),
        Output("usb", root / "sub" / "u.img"),
        Output("manifest", root / "m.json"),
    ]


def write_all(tx: Transaction, tag: str) -> None:
    tx.path("iso").write_bytes(f"iso {tag}".encode())
    pxe = tx.path("pxe")
    (pxe / "Boot").mkdir()
    (pxe / "Boot" / "BCD").write_bytes(f"bcd {tag}".encode())
    tx.path("usb").write_bytes(f"usb {tag}".encode())
    tx.path("manifest").write_text(tag)


def snapshot(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MARKER:
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def build(root: Path, tag: str) -> None:
    with Transaction(plan_outputs(outputs(root))) as tx:
        write_all(tx, tag)
        tx.publish()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_publish_replaces_all_and_leaves_nothing_else(root: Path) -> None:
    build(root, "one")
    first = snapshot(root)
    assert first == {
        "a.iso": b"iso one",
        "m.json": b"one",
        "pxe/Boot/BCD": b"bcd one",
        "sub/u.img": b"usb one",
    }
    build(root, "two")  # its own marked tree: replaced without --force
    assert snapshot(root) == {k: v.replace(b"one", b"two") for k, v in first.items()}
    assert sorted(p.name for p in root.iterdir()) == ["a.iso", "m.json", "pxe", "sub"]
    assert sorted(p.name for p in (root / "sub").iterdir()) == ["u.img"]
    assert json.loads((root / "pxe" / MARKER).read_text())["kind"] == "pxe"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_modes_are_what_cp_would_give(root: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        with Transaction(plan_outputs(outputs(root))) as tx:
            write_all(tx, "m")
            os.chmod(tx.path("pxe") / "Boot" / "BCD", 0o600)  # a copy keeps its source's mode
            os.chmod(tx.path("pxe") / "Boot", 0o700)
            tx.publish()
    finally:
        os.umask(old)
    for rel in ("a.iso", "pxe/Boot/BCD", "pxe/" + MARKER, "m.json"):
        assert stat.S_IMODE((root / rel).stat().st_mode) == 0o644 & ~umask, rel
    for rel in ("pxe", "pxe/Boot"):
        assert stat.S_IMODE((root / rel).stat().st_mode) == 0o755 & ~umask, rel


def test_error_before_publish_leaves_every_target_as_it_was(root: Path) -> None:
    build(root, "old")
    before = snapshot(root)
    with pytest.raises(RuntimeError), Transaction(plan_outputs(outputs(root))) as tx:
        write_all(tx, "new")
        raise RuntimeError("late failure")
    assert snapshot(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["a.iso", "m.json", "pxe", "sub"]


def test_failed_rename_rolls_back(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build(root, "old")
    before = snapshot(root)
    real = os.rename
    calls = []

    def flaky(src: str, dst: str) -> None:
        calls.append(dst)
        if dst == str(root / "sub" / "u.img") and calls.count(dst) == 1:  # the publish; not the undo
            raise PermissionError(13, "Permission denied")
        real(src, dst)

    monkeypatch.setattr(area_mod.os, "rename", flaky)
    with (
        pytest.raises(OutputError, match="cannot publish: Permission denied"),
        Transaction(plan_outputs(outputs(root))) as tx,
    ):
        write_all(tx, "new")
        tx.publish()
    monkeypatch.undo()
    assert snapshot(root) == before
    assert not list(root.glob(".pebuild-*")) and not list((root / "sub").glob(".pebuild-*"))


def test_user_data_in_a_target_tree_is_refused_before_any_work(root: Path) -> None:
    (root / "pxe").mkdir()
    (root / "pxe" / "thesis.txt").write_text("years of work")
    with pytest.raises(OutputError, match=r"thesis\.txt"), Transaction(plan_outputs(outputs(root))):
        pytest.fail("entered")
    assert (root / "pxe" / "thesis.txt").read_text() == "years of work"
    assert not list(root.glob(".pebuild-*"))
    with Transaction(plan_outputs(outputs(root)), OutputOptions(force=True)) as tx:
        write_all(tx, "forced")
        tx.publish()
    assert not (root / "pxe" / "thesis.txt").exists()


def test_a_file_that_appears_in_a_target_during_the_build_stops_the_publish(root: Path) -> None:
    build(root, "old")
    with pytest.raises(OutputError, match=r"late\.txt"), Transaction(plan_outputs(outputs(root))) as tx:
        write_all(tx, "new")
        (root / "pxe" / "late.txt").write_text("written while pebuild built")
        tx.publish()
    assert (root / "pxe" / "late.txt").exists() and (root / "a.iso").read_bytes() == b"iso old"


KILLED_PUBLISH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from test_outputs_stage import outputs, write_all
    from pebuild.outputs import Transaction, plan_outputs
    from pebuild.outputs import stage
    root, after = Path(sys.argv[1]), int(sys.argv[2])
    done = []
    real = stage.do_step
    def step(s):
        if len(done) == after:
            os.kill(os.getpid(), signal.SIGKILL)
        real(s)
        done.append(s)
        if len(done) == after and s.role == "manifest":
            os.kill(os.getpid(), signal.SIGKILL)
    stage.do_step = step
    with Transaction(plan_outputs(outputs(root))) as tx:
        write_all(tx, "new")
        tx.publish()
    """
)


@pytest.mark.parametrize("after", [0, 1, 2, 3, 4])
def test_publish_killed_after_n_renames_is_finished_by_the_next_run(root: Path, after: int) -> None:
    build(root, "old")
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_PUBLISH, str(root), str(after), str(Path(__file__).parent)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr
    assert list(root.glob(".pebuild-stage-*"))  # the dead run's area, with its journal
    report = clean_directory(root)
    assert [p.name for p in report.finished] == ["a.iso", "pxe", "u.img", "m.json"]
    new = snapshot(root)
    assert new == {"a.iso": b"iso new", "m.json": b"new", "pxe/Boot/BCD": b"bcd new", "sub/u.img": b"usb new"}
    assert not list(root.glob(".pebuild-*")) and not list((root / "sub").glob(".pebuild-*"))


def test_a_journal_whose_staged_output_vanished_is_undone(root: Path) -> None:
    build(root, "old")
    before = snapshot(root)
    script = KILLED_PUBLISH.replace("if len(done) == after:", "if len(done) == after:\n        import shutil")
    proc = subprocess.run(
        [sys.executable, "-c", script, str(root), "2", str(Path(__file__).parent)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr
    (area,) = root.glob(".pebuild-stage-*")
    (area / "out" / "m.json").unlink()  # the manifest's staged copy is gone: the set cannot be completed
    report = clean_directory(root)
    assert [p.name for p in report.undone] == ["a.iso", "pxe", "u.img", "m.json"]
    assert snapshot(root) == before


def test_a_live_area_is_left_alone(root: Path) -> None:
    with Transaction(plan_outputs(outputs(root))) as tx:
        report = clean_directory(root)
        assert [p.name for p in report.busy] == [tx.areas[root].path.name]
        write_all(tx, "x")
        tx.publish()
