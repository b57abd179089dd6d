"""The compression level of a commit: fast (20) by default, 50 = `wimlib-imagex update`'s bytes.

Checked with wimlib-imagex (verify, apply, update, info --header/--blobs) on a
1,500-file LZX and XPRESS image, big enough that level 20 and level 50
compress its metadata resource differently.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import assert_one_line_error
from pebuild.errors import UsageError
from pebuild.wim.capture import capture
from pebuild.wim.levels import COMMIT_COMPRESS_LEVEL
from pebuild.wim.mount import commit, mount
from pebuild.wim.writer import compression_level

T = 1_600_000_000
GUID = bytes(range(16))


def _tree(root: Path, files: int = 1500) -> Path:
    rng = random.Random(18)
    for i in range(files):
        p = root / f"Windows/WinSxS/pkg{i % 30:02d}/file{i:05d}.dll"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes(rng.getrandbits(8) for _ in range(64)) * rng.randint(1, 40))
    _fix(root)
    return root


def _fix(root: Path, when: int = T) -> None:
    """Fixed file times: libwim records atime too, and reading a file or a directory can move it.

    Bottom-up, the root last: a directory's times are set after the walk listed it.
    """
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


@pytest.fixture(scope="module", params=["lzx", "xpress"])
def base_wim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wt) -> Path:
    work = tmp_path_factory.mktemp(f"level-{request.param}")
    wim = work / "base.wim"
    wt.imagex("capture", _tree(work / "tree"), wim, "WinPE", f"--compress={request.param}")
    return wim


def _extra(tmp_path: Path) -> Path:
    """The new and the changed file; named so libwim writes their blobs in the same order either way."""
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "a-added.txt").write_bytes(b"added by the commit\r\n" * 300)
    (extra / "b-changed.dll").write_bytes(b"changed content\r\n" * 500)
    _fix(extra, T + 7)
    return extra


CHANGED = "Windows/WinSxS/pkg01/file00001.dll"
DELETED = "Windows/WinSxS/pkg02/file00002.dll"


def _edit(mnt: Path, extra: Path) -> None:
    """1 added, 1 changed, 1 deleted file, with the same content and times as `extra`'s."""
    shutil.copyfile(extra / "a-added.txt", mnt / "Windows/WinSxS/pkg00/added.txt")
    shutil.copyfile(extra / "b-changed.dll", mnt / CHANGED)
    (mnt / DELETED).unlink()
    for path in (mnt / "Windows/WinSxS/pkg00/added.txt", mnt / CHANGED, *extra.iterdir()):
        os.utime(path, (T + 7, T + 7))


def _update(wim: Path, extra: Path) -> None:
    """`wimlib-imagex update` told the same change."""
    commands = (
        f"add '{extra}/a-added.txt' '/Windows/WinSxS/pkg00/added.txt'\n"
        f"add '{extra}/b-changed.dll' '/{CHANGED}'\n"
        f"delete '/{DELETED}'\n"
    )
    tool = shutil.which("wimlib-imagex") or "wimlib-imagex"
    subprocess.run(
        [tool, "update", str(wim), "1"], input=commands, text=True, check=True, capture_output=True
    )


def _header(wt, wim: Path) -> dict[str, int]:
    out = wt.imagex("info", wim, "--header").stdout
    return {k.strip(): int(v, 0) for k, v in re.findall(r"^(\w[\w ]*?)\s+= (0x[0-9a-f]+|\d+)$", out, re.M)}


def _metadata_blob(wt, wim: Path) -> tuple[int, int]:
    """(offset, compressed size) of the newest metadata resource (`info --blobs`)."""
    out = wt.imagex("info", wim, "--blobs").stdout
    found = [
        (int(m.group(2)), int(m.group(1)))
        for block in out.split("\n\n")
        if "WIM_RESHDR_FLAG_METADATA" in block
        for m in [re.search(r"Compressed size\s+= (\d+) bytes.*?Offset in WIM\s+= (\d+) bytes", block, re.S)]
        if m
    ]
    return max(found)


def _mounted(base: Path, tmp_path: Path, name: str, extra: Path) -> tuple[Path, Path]:
    wim, mnt = tmp_path / f"{name}.wim", tmp_path / f"mnt-{name}"
    shutil.copyfile(base, wim)
    mount(wim, mnt)
    _edit(mnt, extra)
    return wim, mnt


def test_fast_commit_verifies_and_applies_as_the_mounted_tree(base_wim, wt, tmp_path, state_home):
    extra = _extra(tmp_path)
    fast, mnt = _mounted(base_wim, tmp_path, "fast", extra)
    assert COMMIT_COMPRESS_LEVEL == 20
    result = commit(mnt)  # the default level
    assert (result.added, result.modified, result.deleted) == (
        ["Windows/WinSxS/pkg00/added.txt"],
        [CHANGED],
        [DELETED],
    )
    wt.imagex("verify", fast)
    fresh = tmp_path / "fresh"
    wt.imagex("apply", fast, "1", fresh)
    diff = subprocess.run(["diff", "-r", "--no-dereference", mnt, fresh], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout
    assert (fresh / CHANGED).read_bytes() == (extra / "b-changed.dll").read_bytes()

    # The same change at level 50: a different metadata resource, so the fast level really applied.
    slow, mnt50 = _mounted(base_wim, tmp_path, "slow", extra)
    commit(mnt50, compress_level=50)
    wt.imagex("verify", slow)
    assert _metadata_blob(wt, fast)[1] != _metadata_blob(wt, slow)[1]
    assert wt.listing(fast, 1) == wt.listing(slow, 1)


def test_level_50_writes_the_bytes_of_wimlib_imagex_update(base_wim, wt, tmp_path, state_home, run_pebuild):
    extra = _extra(tmp_path)
    ours, mnt = _mounted(base_wim, tmp_path, "ours", extra)
    run_pebuild("commit", str(mnt), "--compress-level", "50", check=True)
    ref = tmp_path / "ref.wim"
    shutil.copyfile(base_wim, ref)
    _update(ref, extra)
    wt.imagex("verify", ours)
    a, b = ours.read_bytes(), ref.read_bytes()
    assert len(a) == len(b)
    assert _metadata_blob(wt, ours) == _metadata_blob(wt, ref)
    # Byte for byte, but for the XML's LASTMODIFICATIONTIME (each writer's `now`).
    head = _header(wt, ours)
    assert head == _header(wt, ref)
    xml = range(head["XML Data Offset"], head["XML Data Offset"] + head["XML Data Size"])
    differ = [i for i in range(len(a)) if a[i] != b[i]] if a != b else []
    assert all(i in xml for i in differ), differ[:5]
    assert _xml(ours) == _xml(ref)


def _xml(wim: Path) -> str:
    """`wimlib-imagex info --xml` (UTF-16) without LASTMODIFICATIONTIME."""
    tool = shutil.which("wimlib-imagex") or "wimlib-imagex"
    raw = subprocess.run([tool, "info", str(wim), "--xml"], capture_output=True, check=True).stdout
    text = raw.decode("utf-16")
    assert "<LASTMODIFICATIONTIME>" in text
    return re.sub(r"<LASTMODIFICATIONTIME>.*?</LASTMODIFICATIONTIME>", "", text, flags=re.S)


@pytest.mark.parametrize("bad", ["0", "1001", "-5", "fast", "2.5", ""])
def test_bad_level_is_a_one_line_usage_error(sample_wim, tmp_path, run_pebuild, bad):
    mnt = tmp_path / "mnt"
    run_pebuild("mount", str(sample_wim), str(mnt), check=True)
    (mnt / "new.txt").write_bytes(b"x")
    before = sample_wim.read_bytes()
    proc = run_pebuild("commit", str(mnt), "--compress-level", bad)
    assert_one_line_error(proc, 2)
    assert "compression level must be an integer from 1 to 1000" in proc.stderr
    assert_one_line_error(run_pebuild("unmount", str(mnt), "--commit", "--compress-level", bad), 2)
    assert sample_wim.read_bytes() == before and mnt.is_dir()  # nothing written, still mounted


def test_bad_level_through_the_library(sample_wim, tmp_path, state_home, run_pebuild):
    mnt = tmp_path / "mnt"
    mount(sample_wim, mnt)
    (mnt / "new.txt").write_bytes(b"x")
    before = sample_wim.read_bytes()
    for bad in (0, 1001, True, "20"):
        with pytest.raises(UsageError, match="compression level"):
            commit(mnt, compress_level=bad)  # type: ignore[arg-type]
    assert sample_wim.read_bytes() == before
    assert_one_line_error(run_pebuild("unmount", str(mnt), "--discard", "--compress-level", "50"), 2)
    assert commit(mnt, compress_level=1).added == ["new.txt"]  # the bounds are valid levels


_FRESH_CAPTURE = """
import sys
from pebuild.wim.capture import capture
capture(sys.argv[1], sys.argv[2], "WinPE", guid=bytes(range(16)), timestamp=1600000000)
"""


def test_level_is_restored_after_the_commit(base_wim, tmp_path, state_home):
    """A capture after a (fast) commit in the same process writes libwim's level-50 bytes."""
    tree = _tree(tmp_path / "tree", files=400)

    def captured(name: str) -> bytes:
        _fix(tree)
        out = tmp_path / f"{name}.wim"
        capture(tree, out, "WinPE", guid=GUID, timestamp=T)
        return out.read_bytes()

    extra = _extra(tmp_path)
    _, mnt = _mounted(base_wim, tmp_path, "c", extra)
    assert commit(mnt).changed
    after_commit = captured("after-commit")
    with pytest.raises(RuntimeError), compression_level(20):
        raise RuntimeError("a failed write")
    after_failure = captured("after-failure")
    with compression_level(20):
        at_20 = captured("at-20")

    _fix(tree)
    fresh = tmp_path / "fresh.wim"
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    subprocess.run([sys.executable, "-c", _FRESH_CAPTURE, tree, fresh], check=True, env=env)
    assert after_commit == fresh.read_bytes()
    assert after_failure == fresh.read_bytes()
    assert at_20 != fresh.read_bytes()  # the comparison can see a leaked level
