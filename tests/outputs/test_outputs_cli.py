"""Every verb that writes an output checks it first: one line, the right exit code, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import assert_one_line_error


@pytest.fixture
def media(tmp_path: Path) -> Path:
    tree = tmp_path / "media"
    (tree / "sources").mkdir(parents=True)
    (tree / "sources" / "boot.wim").write_bytes(b"MSWIM\0\0\0")
    return tree


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["iso", "{media}", "{tmp}/nope/x.iso"], 8, "nope: cannot write output: directory does not exist"),
        (["iso", "{media}", "{media}/x.iso"], 2, "the iso output would be inside the input"),
        (["oscdimg", "{media}", "{tmp}/nope/x.iso"], 8, "directory does not exist"),
        (["usb", "{media}", "{tmp}/nope/u.img"], 8, "directory does not exist"),
        (["pxe", "sample", "{tmp}/nope/pxe"], 8, "directory does not exist"),
        (["pxe", "sample", "{tmp}/file"], 8, "is a file, but the pxe output is a directory tree"),
        (["copype", "amd64", "{tmp}/nope/cp"], 8, "directory does not exist"),
        (["copype", "amd64", "{tmp}/user"], 8, "is not a tree pebuild wrote"),
        (["sample-source", "{tmp}/nope/kit"], 8, "directory does not exist"),
        (["sample-source", "{tmp}/user"], 8, "holds thesis.txt"),
    ],
)
def test_output_checked_before_any_work(
    run_pebuild, tmp_path: Path, media: Path, args: list[str], code: int, words: str
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "file").write_text("a file")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "thesis.txt").write_text("mine")
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_pebuild(*[a.format(media=media, tmp=tmp_path) for a in args])
    assert_one_line_error(proc, code)
    assert words in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("cache", "state")) == before
    assert (tmp_path / "user" / "thesis.txt").read_text() == "mine"


def test_clean_finishes_and_removes_what_a_killed_run_left(run_pebuild, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".pebuild-build-{dead.pid}-0badc0de").mkdir()
    (tmp_path / f".a.iso.{dead.pid}-0badc0de.tmp").write_bytes(b"half")
    (tmp_path / "a.iso").write_bytes(b"mine")
    proc = run_pebuild("clean", str(tmp_path), check=True)
    assert f"removed: {tmp_path / f'.pebuild-build-{dead.pid}-0badc0de'}" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("cache", "state")) == ["a.iso"]
    again = run_pebuild("clean", str(tmp_path), "--json", check=True)
    assert '"removed": []' in again.stdout
    assert_one_line_error(run_pebuild("clean", str(tmp_path / "a.iso")), 2)
    assert os.path.exists(tmp_path / "a.iso")
