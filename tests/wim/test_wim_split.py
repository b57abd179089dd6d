"""pebuild.wim.split and `pebuild split` / `pebuild join`, checked with wimlib-imagex (verify --ref, apply).

Small WIMs (a few MiB of random data, uncompressed) split at 1 MiB: the names
Setup expects (install.swm, install2.swm, ...), reproducible parts, solid WIMs
refused unless --recompress, a joined WIM that applies to the captured tree.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from _helpers import assert_one_line_error, require_tool
from pebuild.errors import UsageError
from pebuild.wim import Wim
from pebuild.wim.split import join_wim, part_names, split_wim

MIB = 1 << 20


def _tree(root: Path) -> Path:
    rng = random.Random(19)
    tree = root / "tree"
    (tree / "sub").mkdir(parents=True)
    for i in range(6):
        (tree / f"f{i}.bin").write_bytes(rng.randbytes(700_000))
    (tree / "sub" / "small.txt").write_bytes(b"small\r\n" * 10)
    return tree


def _wim(tmp_path: Path, *extra: str, name: str = "install.wim") -> tuple[Path, Path]:
    tool = require_tool("wimlib-imagex")
    tree = _tree(tmp_path)
    wim = tmp_path / name
    subprocess.run(
        [tool, "capture", str(tree), str(wim), "Image", "--compress=none", *extra],
        check=True,
        capture_output=True,
    )
    return tree, wim


def _verify(first: Path) -> None:
    proc = subprocess.run(
        ["wimlib-imagex", "verify", str(first), f"--ref={first.parent}/{first.stem}*.swm"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "successfully verified" in proc.stdout, proc.stdout + proc.stderr


def _apply_equals(wim: Path, tree: Path, dest: Path) -> None:
    subprocess.run(["wimlib-imagex", "apply", str(wim), "1", str(dest)], check=True, capture_output=True)
    got = {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    want = {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert got == want


def test_part_names_are_setups() -> None:
    assert part_names("install.swm", 3) == ["install.swm", "install2.swm", "install3.swm"]
    assert part_names("hpcnode.swm", 1) == ["hpcnode.swm"]


def test_split_verify_join_apply(tmp_path: Path) -> None:
    tree, wim = _wim(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    parts = split_wim(wim, tmp_path / "a" / "install.swm", MIB)
    assert [p.name for p in parts] == part_names("install.swm", len(parts)) and len(parts) >= 4
    assert all(p.stat().st_size <= MIB + 64 * 1024 for p in parts[1:])  # whole 700 KB files per part
    _verify(parts[0])
    again = split_wim(wim, tmp_path / "b" / "install.swm", MIB)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in parts]  # reproducible
    with Wim.open(parts[0]) as first:
        assert (first.info.part_number, first.info.total_parts) == (1, len(parts))
    joined = tmp_path / "joined.wim"
    join_wim(list(reversed(parts)), joined)  # any order
    subprocess.run(["wimlib-imagex", "verify", str(joined)], check=True, capture_output=True)
    _apply_equals(joined, tree, tmp_path / "applied")


def test_solid_wim_is_refused_unless_recompressed(tmp_path: Path) -> None:
    tree, wim = _wim(tmp_path)
    solid = tmp_path / "install.esd"
    subprocess.run(
        ["wimlib-imagex", "export", str(wim), "all", str(solid), "--solid"], check=True, capture_output=True
    )
    with pytest.raises(
        UsageError, match=r"solid \(LZMS/ESD\) WIM cannot be split by wimlib: export it to LZX"
    ):
        split_wim(solid, tmp_path / "install.swm", MIB)
    assert not list(tmp_path.glob("*.swm"))
    parts = split_wim(solid, tmp_path / "install.swm", MIB, recompress=True)
    assert len(parts) >= 2 and not list(tmp_path.glob(".pebuild-split-*"))
    with Wim.open(parts[0]) as first:
        assert first.info.compression.value == "lzx"
    _verify(parts[0])
    joined = tmp_path / "joined.wim"
    join_wim([parts[0]], joined)  # part 1 alone: its siblings by name
    _apply_equals(joined, tree, tmp_path / "applied")


def test_cli_split_and_join(tmp_path: Path, run_pebuild) -> None:
    tree, wim = _wim(tmp_path)
    out = tmp_path / "parts"
    out.mkdir()
    proc = run_pebuild("split", str(wim), str(out), "--size", "1M", "--name", "hpcnode.swm", check=True)
    names = sorted(p.name for p in out.iterdir())
    assert "hpcnode.swm" in names and "hpcnode2.swm" in names and "hpcnode.swm" in proc.stdout
    assert_one_line_error(
        run_pebuild("split", str(wim), str(out), "--size", "1M", "--name", "hpcnode.swm"), 2
    )
    run_pebuild("join", str(out / "hpcnode.swm"), str(tmp_path / "back.wim"), check=True)
    _apply_equals(tmp_path / "back.wim", tree, tmp_path / "applied")
    assert_one_line_error(run_pebuild("join", str(out / "hpcnode.swm"), str(tmp_path / "back.wim")), 2)
    assert_one_line_error(run_pebuild("split", str(tmp_path / "nope.wim"), str(out)), 2)
    assert_one_line_error(run_pebuild("split", str(wim), str(out), "--size", "1K"), 2)
    for verb in ("split", "join"):
        assert "Examples:" in run_pebuild(verb, "--help", check=True).stdout
