"""Debris of dead runs goes; what belongs to a live process, a kept build or the user stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pebuild.outputs import build_directory, clean_directory


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_removes_only_pebuild_debris_of_dead_processes(tmp_path: Path) -> None:
    dead, alive = dead_pid(), os.getpid()
    debris = [
        f".pebuild-build-{dead}-0a1b2c3d",  # SIGKILLed build directory (no lock file)
        ".pebuild-build-x1y2z3w4",  # from an older pebuild (mkdtemp name, no pid)
        f".media.old-{dead}",  # atomic_directory's moved-aside tree
        f".a.iso.{dead}-deadbeef.tmp",  # atomic_output's temporary file
    ]
    keep = [
        f".pebuild-build-{alive}-0a1b2c3d",  # a running build (this process) being created
        f".media.old-{alive}",
        f".a.iso.{alive}-deadbeef.tmp",
        "thesis.txt",
        ".a.iso.tmp",  # not pebuild's pattern: not ours to judge
        "media.old-1",
    ]
    for name in debris[:3] + keep[:2]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "boot.wim").write_bytes(b"x" * 100)
    for name in debris[3:] + keep[2:]:
        (tmp_path / name).write_bytes(b"x")
    report = clean_directory(tmp_path)
    assert sorted(p.name for p in report.removed) == sorted(debris)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)


def test_build_directory_is_locked_removed_or_kept(tmp_path: Path) -> None:
    with build_directory(tmp_path) as work:
        (work / "boot.wim").write_bytes(b"wim")
        assert clean_directory(tmp_path).busy == [work]  # alive: left alone
    assert not work.exists()
    with build_directory(tmp_path, keep=True) as kept:
        pass
    assert (kept / "kept").is_file()
    assert clean_directory(tmp_path).removed == []  # a kept build is the user's to inspect
    assert clean_directory(tmp_path, kept=True).removed == [kept]
    assert list(tmp_path.iterdir()) == []


def test_free_lock_files_go(tmp_path: Path) -> None:
    (tmp_path / ".a.iso.pebuild-lock").write_text("12345\n")
    clean_directory(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_is_nothing_to_clean(tmp_path: Path) -> None:
    assert clean_directory(tmp_path / "nope").to_json() == {
        "removed": [],
        "finished": [],
        "undone": [],
        "busy": [],
    }
