"""mount -> edit -> commit round trips, checked with wimlib-imagex dir/info/verify and a fresh apply."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pebuild.errors import StateError, UsageError
from pebuild.wim import Wim
from pebuild.wim.mount import _key, _locked, commit, discard, list_mounts, mount, mount_record


def _edit(mnt: Path) -> None:
    """add, modify, delete, rename, mkdir (empty and full), rmdir, symlink."""
    sys32 = mnt / "Windows/System32"
    (sys32 / "startnet.cmd").write_bytes(b"wpeinit\r\necho pebuild\r\n")  # modify
    (sys32 / "added.txt").write_bytes(b"new file\r\n")  # add
    (sys32 / "file001.dll").unlink()  # delete
    (sys32 / "file002.dll").rename(sys32 / "renamed.dll")  # rename = delete + add
    (mnt / "NewEmptyDir").mkdir()  # empty dir
    (mnt / "Tools/bin").mkdir(parents=True)  # new tree
    (mnt / "Tools/bin/tool.cmd").write_bytes(b"@echo tool\r\n")
    shutil.rmtree(mnt / "Users/Default")  # rmdir (with an empty subdir)
    (mnt / "Windows/Temp").rmdir()  # rmdir of an empty dir
    (mnt / "tool-link").symlink_to("Tools/bin/tool.cmd")  # symlink -> reparse point


EXPECTED_ADDED = {
    "Windows/System32/added.txt",
    "Windows/System32/renamed.dll",
    "NewEmptyDir",
    "Tools",
    "tool-link",
}


@pytest.mark.parametrize("image", [1, 2])
def test_round_trip_keeps_untouched_metadata(sample_wim, wt, tmp_path, state_home, image):
    other = 3 - image
    before = wt.detailed(sample_wim, image)
    before_other = wt.detailed(sample_wim, other)
    mnt = tmp_path / "mnt"
    record = mount(sample_wim, mnt, image)
    assert record.index == image and mnt.is_dir()
    assert not any(p.name.startswith(".pebuild") for p in mnt.iterdir())  # no state inside DIR
    _edit(mnt)
    result = commit(mnt)
    assert set(result.added) == EXPECTED_ADDED
    assert result.modified == ["Windows/System32/startnet.cmd"]
    assert set(result.deleted) == {
        "Windows/System32/file001.dll",
        "Windows/System32/file002.dll",
        "Users/Default",
        "Windows/Temp",
    }
    wt.imagex("verify", sample_wim)
    info = wt.imagex("info", sample_wim).stdout
    assert re.search(r"Boot Index:\s+2", info) and re.search(r"Image Count:\s+2", info)

    after = wt.detailed(sample_wim, image)
    touched = {"/" + p for p in result.added + result.modified + result.deleted}
    parents = {"/Users", "/Windows/System32", "/Windows", "/"}  # their directory entries change
    untouched = [
        p for p in before if p not in parents and not any(p == t or p.startswith(t + "/") for t in touched)
    ]
    assert len(untouched) > 20
    for path in untouched:
        assert after[path] == before[path], path  # same security descriptor, attributes, links, offsets
    assert wt.detailed(sample_wim, other) == before_other  # the other image is untouched
    if image == 1:  # the NTFS-captured image kept its security descriptors
        assert "Security Descriptor" in after["/Windows/System32/file000.dll"]

    # a fresh apply by wimlib-imagex equals the edited directory
    fresh = tmp_path / "fresh"
    wt.imagex("apply", sample_wim, str(image), fresh)
    diff = subprocess.run(["diff", "-r", "--no-dereference", mnt, fresh], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout
    assert (fresh / "NewEmptyDir").is_dir() and not any((fresh / "NewEmptyDir").iterdir())
    assert os.readlink(fresh / "tool-link") == "Tools/bin/tool.cmd"

    # committing again finds nothing; the mount stays usable
    assert not commit(mnt).changed
    (mnt / "second.txt").write_bytes(b"2")
    assert commit(mnt).added == ["second.txt"]
    assert "/second.txt" in wt.listing(sample_wim, image)
    discard(mnt)
    assert not mnt.exists() and list_mounts() == []


def test_hard_links_and_symlinks_survive_when_untouched(sample_wim, wt, tmp_path, state_home):
    before = wt.detailed(sample_wim, 2)
    mount(sample_wim, tmp_path / "m", 2)
    (tmp_path / "m/Windows/System32/added.txt").write_bytes(b"x")
    commit(tmp_path / "m")
    after = wt.detailed(sample_wim, 2)
    for path in (
        "/Windows/System32/file000.dll",
        "/Windows/System32/hardlink.dll",
        "/Windows/System32/startnet.lnk",
    ):
        assert after[path] == before[path]
    assert "Link Count          = 2" in after["/Windows/System32/hardlink.dll"]
    with Wim.open(sample_wim) as w:
        entries = {e.path: e for e in w.entries(2, "Windows/System32")}
    a, b = entries["Windows/System32/file000.dll"], entries["Windows/System32/hardlink.dll"]
    assert a.hard_link_group_id == b.hard_link_group_id != 0 and a.num_links == 2


def test_same_size_same_mtime_edit_is_found_by_hash(sample_wim, wt, tmp_path, state_home):
    mnt = tmp_path / "m"
    mount(sample_wim, mnt, 2)
    target = mnt / "Windows/System32/startnet.cmd"
    st = target.stat()
    target.write_bytes(b"WPEINIT\r\n")  # same length
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime restored
    os.chmod(mnt / "Windows/System32/winpeshl.ini", 0o600)  # ctime moves, content does not
    result = commit(mnt)
    assert result.modified == ["Windows/System32/startnet.cmd"]
    assert not result.added and not result.deleted
    fresh = tmp_path / "x"
    wt.imagex("extract", sample_wim, "2", "/Windows/System32/startnet.cmd", f"--dest-dir={fresh}")
    assert (fresh / "startnet.cmd").read_bytes() == b"WPEINIT\r\n"


def test_case_insensitive_paths(sample_wim, wt, tmp_path, state_home):
    mnt = tmp_path / "m"
    mount(sample_wim, mnt, 2)
    before = wt.sha256(sample_wim)
    (mnt / "WINDOWS").mkdir()  # 'Windows' exists: Windows cannot hold both
    with pytest.raises(UsageError, match="differ only in case"):
        commit(mnt)
    assert wt.sha256(sample_wim) == before
    (mnt / "WINDOWS").rmdir()
    # a case-only rename is no change on Windows
    (mnt / "Program Files/Tool/readme.txt").rename(mnt / "Program Files/Tool/README.TXT")
    assert not commit(mnt).changed


def test_rebuild_commit(sample_wim, wt, tmp_path, state_home):
    mnt = tmp_path / "m"
    mount(sample_wim, mnt, 1)
    shutil.rmtree(mnt / "Program Files")
    commit(mnt, rebuild=True, check=True)
    wt.imagex("verify", sample_wim)
    assert not any(p.startswith("/Program Files") for p in wt.listing(sample_wim, 1))
    assert re.search(r"Boot Index:\s+2", wt.imagex("info", sample_wim).stdout)
    assert not list(sample_wim.parent.glob("*.tmp*"))


def test_refusals(sample_wim, wt, tmp_path, state_home):
    before = wt.sha256(sample_wim)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        mount(sample_wim, busy)
    with pytest.raises(StateError, match="not a pebuild mount"):
        commit(busy)
    ro = tmp_path / "ro"
    mount(sample_wim, ro, 1, readonly=True)
    (ro / "new.txt").write_text("x")
    with pytest.raises(StateError, match="read-only"):
        commit(ro)
    assert wt.sha256(sample_wim) == before
    with pytest.raises(StateError, match="already"):
        shutil.rmtree(ro)
        ro.mkdir()
        mount(sample_wim, ro, 1)
    discard(ro)
    assert not ro.exists()  # mount created it, discard removes it
    pre = tmp_path / "pre"
    pre.mkdir()
    mount(sample_wim, pre, 2)
    discard(pre)
    assert pre.is_dir() and not any(pre.iterdir())  # an existing DIR is emptied, not removed
    assert wt.sha256(sample_wim) == before


def test_wim_changed_under_mount_and_stale_listing(sample_wim, wt, tmp_path, state_home):
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    mount(sample_wim, m1, 1)
    mount(sample_wim, m2, 2)
    (m1 / "a.txt").write_text("a")
    commit(m1)
    changed = wt.sha256(sample_wim)
    (m2 / "b.txt").write_text("b")
    with pytest.raises(StateError, match="changed since it was mounted"):
        commit(m2)
    assert wt.sha256(sample_wim) == changed
    statuses = {s.record.dir: s for s in list_mounts()}
    assert not statuses[str(m1.resolve())].stale
    assert statuses[str(m2.resolve())].reasons == ["WIM changed"]
    shutil.rmtree(m1)
    statuses = {s.record.dir: s for s in list_mounts()}
    assert statuses[str(m1.resolve())].reasons == ["directory gone"]
    discard(m1)
    discard(m2)
    assert list_mounts() == []


def test_commit_lock_refuses_a_second_committer(sample_wim, tmp_path, state_home):
    mnt = tmp_path / "m"
    record = mount(sample_wim, mnt, 1)
    (mnt / "x.txt").write_text("x")
    with _locked(_key(record.wim), "the WIM"), pytest.raises(StateError, match="busy"):
        commit(mnt)
    assert commit(mnt).added == ["x.txt"]
    assert mount_record(mnt).commits == 1


def test_inconsistent_state_is_refused_and_discardable(sample_wim, wt, tmp_path, state_home):
    mnt = tmp_path / "m"
    record = mount(sample_wim, mnt, 2)
    entries_file = record.state_file.with_suffix(".entries")
    assert record.state_file.is_file() and entries_file.is_file()
    assert not str(record.state_file).startswith(str(mnt))  # state lives outside DIR
    entries_file.write_bytes(b"garbage")
    before = wt.sha256(sample_wim)
    with pytest.raises(StateError, match="inconsistent"):
        commit(mnt)
    assert wt.sha256(sample_wim) == before
    discard(mnt)
    assert not record.state_file.exists() and not entries_file.exists()
