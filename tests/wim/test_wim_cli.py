"""The WIM verbs through the real `pebuild` CLI: output, --json, and one-line errors on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _helpers import assert_one_line_error


def test_info_json_matches_wimlib_imagex(run_pebuild, sample_wim, wt):
    proc = run_pebuild("info", str(sample_wim), "--json", check=True)
    data = json.loads(proc.stdout)
    ref = wt.imagex("info", sample_wim).stdout
    assert data["wim"]["guid"] == re.search(r"GUID:\s+0x(\w+)", ref).group(1)
    assert data["wim"]["boot_index"] == 2 and data["wim"]["compression"] == "lzx"
    assert [i["name"] for i in data["images"]] == ["WinPE A", "WinPE B"]
    one = json.loads(run_pebuild("info", str(sample_wim), "--index", "2", "--json", check=True).stdout)
    assert [i["index"] for i in one["images"]] == [2] and one["images"][0]["is_boot"]
    text = run_pebuild("info", str(sample_wim), check=True).stdout
    assert "Boot index:      2" in text and "WinPE B" in text


def test_info_imports_nothing_heavy(sample_wim, tmp_path):
    code = (
        "import sys\n"
        "from pebuild.cli import main\n"
        "try:\n    main(['info', sys.argv[1]])\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('pycdlib', 'pefile', 'rich', 'jinja2', 'construct') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(sample_wim)], capture_output=True, text=True).stdout
    assert "HEAVY []" in out


def test_capture_extract_export(run_pebuild, wt, tmp_path):
    tree = wt.make_tree(tmp_path / "tree", seed=9, files=5, symlinks=False)
    cfg = tmp_path / "wimscript.ini"
    cfg.write_text("[ExclusionList]\n\\Windows\\Temp\n*.sdi\n")
    wim = tmp_path / "cap.wim"
    run_pebuild(
        "capture",
        str(tree),
        str(wim),
        "--name",
        "Cap",
        "--description",
        "d",
        "--config",
        str(cfg),
        "--compress",
        "xpress",
        "--boot",
        "--check",
        check=True,
    )
    info = wt.imagex("info", wim).stdout
    assert re.search(r"Compression:\s+XPRESS", info) and re.search(r"Boot Index:\s+1", info)
    listing = wt.listing(wim, 1)
    assert "/Windows/Temp" not in listing and "/Windows/Boot/DVD/PCAT/boot.sdi" not in listing
    assert "/Windows/System32/startnet.cmd" in listing
    wt.imagex("verify", wim)
    run_pebuild("capture", str(tree), str(wim), "--name", "Second", "--append", check=True)
    assert re.search(r"Image Count:\s+2", wt.imagex("info", wim).stdout)

    dest = tmp_path / "out"
    run_pebuild(
        "extract",
        str(wim),
        "--index",
        "Second",
        "Windows\\System32\\startnet.cmd",
        "--dest",
        str(dest),
        check=True,
    )
    assert (dest / "Windows/System32/startnet.cmd").read_bytes() == b"wpeinit\r\n"

    new = tmp_path / "exp.wim"
    run_pebuild("export", str(wim), "2", str(new), "--compress", "lzx", "--boot", check=True)
    info = wt.imagex("info", new).stdout
    assert re.search(r"Image Count:\s+1", info) and re.search(r"Compression:\s+LZX", info)
    assert re.search(r"Boot Index:\s+1", info) and re.search(r"Name:\s+Second", info)
    wt.imagex("verify", new)


def test_mount_commit_unmount_cycle(run_pebuild, sample_wim, wt, tmp_path):
    mnt = tmp_path / "mnt"
    run_pebuild("mount", str(sample_wim), str(mnt), "--index", "2", check=True)
    (mnt / "Windows/System32/added.txt").write_text("hi")
    listed = json.loads(run_pebuild("mounts", "--json", check=True).stdout)
    assert [m["index"] for m in listed] == [2] and not listed[0]["stale"]
    out = run_pebuild("commit", str(mnt), check=True).stdout
    assert "1 added, 0 modified, 0 deleted" in out
    (mnt / "Windows/System32/added.txt").unlink()
    run_pebuild("unmount", str(mnt), "--commit", check=True)
    assert not mnt.exists()
    assert "/Windows/System32/added.txt" not in wt.listing(sample_wim, 2)
    assert "no mounts" in run_pebuild("mounts", check=True).stdout
    wt.imagex("verify", sample_wim)
    run_pebuild("mount", str(sample_wim), str(mnt), check=True)
    (mnt / "junk").write_text("x")
    before = wt.sha256(sample_wim)
    run_pebuild("unmount", str(mnt), "--discard", check=True)
    assert wt.sha256(sample_wim) == before and not mnt.exists()


def test_help_has_examples(run_pebuild):
    for verb in ("info", "capture", "extract", "export", "mount", "commit", "discard", "unmount", "mounts"):
        out = run_pebuild(verb, "--help", check=True).stdout
        assert "Examples:" in out and f"pebuild {verb}" in out, verb


def _bad_wims(sample_wim: Path, tmp_path: Path) -> dict[str, Path]:
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"this is no WIM" * 100)
    trunc = tmp_path / "trunc.wim"
    trunc.write_bytes(sample_wim.read_bytes()[:4096])
    return {"junk": junk, "trunc": trunc}


@pytest.mark.parametrize("kind", ["junk", "trunc"])
@pytest.mark.parametrize("verb", ["info", "mount", "extract"])
def test_bad_wim_is_one_line_error(run_pebuild, sample_wim, tmp_path, kind, verb):
    wim = _bad_wims(sample_wim, tmp_path)[kind]
    before = wim.read_bytes()
    args = {
        "info": ["info", str(wim)],
        "mount": ["mount", str(wim), str(tmp_path / "m")],
        "extract": ["extract", str(wim), "a", "--dest", str(tmp_path / "d")],
    }[verb]
    proc = run_pebuild(*args)
    assert_one_line_error(proc, 5)
    assert wim.read_bytes() == before
    assert not (tmp_path / "m").exists()


def test_usage_and_state_errors_are_one_line(run_pebuild, sample_wim, wt, tmp_path):
    before = wt.sha256(sample_wim)
    assert_one_line_error(run_pebuild("info", str(sample_wim), "--index", "3"), 2)
    assert_one_line_error(run_pebuild("mount", str(sample_wim), str(tmp_path / "m"), "--index", "9"), 2)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "f").write_text("x")
    assert_one_line_error(run_pebuild("mount", str(sample_wim), str(busy)), 2)
    assert_one_line_error(run_pebuild("commit", str(busy)), 7)  # not mounted
    ro = tmp_path / "ro"
    run_pebuild("mount", str(sample_wim), str(ro), "--readonly", check=True)
    (ro / "new.txt").write_text("x")
    assert_one_line_error(run_pebuild("commit", str(ro)), 7)
    assert wt.sha256(sample_wim) == before

    rw = tmp_path / "rw"
    run_pebuild("mount", str(sample_wim), str(rw), check=True)
    (rw / "new.txt").write_text("x")
    wt.imagex("info", sample_wim, "1", "--image-property", "DESCRIPTION=changed by another tool")
    changed = wt.sha256(sample_wim)
    proc = run_pebuild("commit", str(rw))
    assert_one_line_error(proc, 7)
    assert "changed since it was mounted" in proc.stderr
    assert wt.sha256(sample_wim) == changed
    mounts = run_pebuild("mounts", check=True).stdout
    assert "stale: WIM changed" in mounts
    run_pebuild("discard", str(rw), check=True)
    assert_one_line_error(run_pebuild("unmount", str(ro)), 2)  # neither --commit nor --discard
    assert_one_line_error(run_pebuild("discard", str(tmp_path / "never")), 7)


@pytest.mark.parametrize("verb", ["capture", "export"])
def test_unwritable_output_is_one_line_error(run_pebuild, sample_wim, tmp_path, verb):
    """/proc refuses new files even for root (tests run as root, so a read-only mode bit would not)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a")
    args = (
        ["capture", str(tree), "/proc/pebuild-test.wim", "--name", "x"]
        if verb == "capture"
        else ["export", str(sample_wim), "1", "/proc/pebuild-test.wim"]
    )
    assert_one_line_error(run_pebuild(*args), 8)
