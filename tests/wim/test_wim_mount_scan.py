"""Change detection of mount/commit: what the walk records, what it hashes, how few libwim calls it makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pebuild.errors import UsageError
from pebuild.wim import mount as mount_module
from pebuild.wim.image import Wim
from pebuild.wim.mount import commit, mount, scan_tree


def test_scan_tree_records_what_lstat_says(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "Windows/System32").mkdir(parents=True)
    (root / "Empty").mkdir()
    data = root / "Windows/System32/startnet.cmd"
    data.write_bytes(b"wpeinit\r\n")
    (root / "link").symlink_to("Windows/System32/startnet.cmd")
    os.mkfifo(root / "fifo")

    entries = scan_tree(str(root))

    assert set(entries) == {
        "windows",
        "windows/system32",
        "windows/system32/startnet.cmd",
        "empty",
        "link",
        "fifo",
    }
    st = os.lstat(data)
    assert entries["windows/system32/startnet.cmd"] == (
        "Windows/System32/startnet.cmd",
        "f",
        9,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        "",
    )
    assert entries["windows"] == ("Windows", "d", 0, 0, 0, os.lstat(root / "Windows").st_ino, "")
    link = os.lstat(root / "link")
    assert entries["link"] == (
        "link",
        "l",
        0,
        link.st_mtime_ns,
        link.st_ctime_ns,
        link.st_ino,
        "Windows/System32/startnet.cmd",
    )
    assert entries["fifo"][1] == "o"


def test_scan_tree_refuses_case_twins_and_reports_unreadable_paths(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/Setup.exe").write_bytes(b"a")
    (tmp_path / "d/SETUP.EXE").write_bytes(b"b")
    with pytest.raises(UsageError, match="differ only in case"):
        scan_tree(str(tmp_path / "d"))
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(UsageError, match="cannot scan the directory"):
        scan_tree(str(tmp_path / "file"))


class _Calls:
    """Counts the calls that cost: file hashing and the two libwim writes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hashed: list[str] = []
        self.updates = self.overwrites = 0
        self.listings: list[tuple[str, bool]] = []  # (path, recursive)
        real_sha1, real_update, real_overwrite, real_entries = (
            mount_module._sha1,
            Wim.update,
            Wim.overwrite,
            Wim.entries,
        )

        def sha1(path: str) -> bytes:
            self.hashed.append(path)
            return real_sha1(path)

        def update(wim: Wim, *args, **kwargs):
            self.updates += 1
            return real_update(wim, *args, **kwargs)

        def overwrite(wim: Wim, *args, **kwargs):
            self.overwrites += 1
            return real_overwrite(wim, *args, **kwargs)

        def entries(wim: Wim, index: int, path: str = "", *, recursive: bool = True):
            self.listings.append((path, recursive))
            return real_entries(wim, index, path, recursive=recursive)

        monkeypatch.setattr(mount_module, "_sha1", sha1)
        monkeypatch.setattr(Wim, "update", update)
        monkeypatch.setattr(Wim, "overwrite", overwrite)
        monkeypatch.setattr(Wim, "entries", entries)


def test_commit_hashes_nothing_when_sizes_or_times_tell(sample_wim, tmp_path, state_home, monkeypatch):
    mnt = tmp_path / "m"
    mount(sample_wim, mnt, 2)
    sys32 = mnt / "Windows/System32"
    for i in range(5):
        (sys32 / f"added{i}.dll").write_bytes(b"MZ" * (100 + i))
    (sys32 / "startnet.cmd").write_bytes(b"wpeinit\r\necho changed\r\n")
    (sys32 / "file003.dll").unlink()
    calls = _Calls(monkeypatch)

    result = commit(mnt)

    assert sorted(result.added) == [f"Windows/System32/added{i}.dll" for i in range(5)]
    assert result.modified == ["Windows/System32/startnet.cmd"]
    assert result.deleted == ["Windows/System32/file003.dll"]
    assert calls.hashed == []  # size or mtime moved for every change; nothing else is suspect
    assert (calls.updates, calls.overwrites) == (1, 1)  # one wimlib_update_image, one wimlib_overwrite

    calls.updates = calls.overwrites = 0
    assert not commit(mnt).changed  # no change: no hashing, no write
    assert (calls.hashed, calls.updates, calls.overwrites) == ([], 0, 0)


def test_commit_hashes_only_suspects(sample_wim, tmp_path, state_home, monkeypatch):
    mnt = tmp_path / "m"
    mount(sample_wim, mnt, 2)
    sys32 = mnt / "Windows/System32"
    edited = sys32 / "startnet.cmd"
    st = edited.stat()
    edited.write_bytes(b"WPEINIT\r\n")  # same size
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime restored: only ctime tells
    os.chmod(sys32 / "winpeshl.ini", 0o600)  # ctime moves, content does not
    calls = _Calls(monkeypatch)

    result = commit(mnt)

    assert result.modified == ["Windows/System32/startnet.cmd"]
    assert not result.added and not result.deleted
    assert sorted(os.path.basename(p) for p in calls.hashed) == ["startnet.cmd", "winpeshl.ini"]
    assert ("", True) not in calls.listings  # two suspects are looked up one by one


def test_many_suspects_take_one_listing(sample_wim, wt, tmp_path, state_home, monkeypatch):
    mnt = tmp_path / "m"
    mount(sample_wim, mnt, 2)
    files = [p for p in mnt.rglob("*") if p.is_file() and not p.is_symlink()]
    monkeypatch.setattr(mount_module, "_LOOKUP_ONE_BY_ONE", 4)
    assert len(files) > 4
    for p in files:
        os.chmod(p, 0o600)  # a chmod -R: every file is suspect
    edited = mnt / "Windows/System32/startnet.cmd"
    st = edited.stat()
    edited.write_bytes(b"WPEINIT\r\n")  # and one of them changed, same size, mtime restored
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
    calls = _Calls(monkeypatch)

    result = commit(mnt)

    assert result.modified == ["Windows/System32/startnet.cmd"]
    assert not result.added and not result.deleted
    # one wimlib_iterate_dir_tree over the whole image (the first call only loads the metadata)
    assert calls.listings[:2] == [("", False), ("", True)]
    assert sorted(calls.hashed) == sorted(str(p) for p in files if p.stat().st_size)  # empty: no hash
    fresh = tmp_path / "x"
    wt.imagex("extract", sample_wim, "2", "/Windows/System32/startnet.cmd", f"--dest-dir={fresh}")
    assert (fresh / "startnet.cmd").read_bytes() == b"WPEINIT\r\n"
